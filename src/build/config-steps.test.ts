import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageConfig } from '../image/config.js';
import { parseDockerfile } from './dockerfile.js';
import { applyConfigStep, envMap, parseDuration } from './config-steps.js';

function apply(lines: string, base: ImageConfig['config'] = {}, args = new Map<string, string>()): ImageConfig {
  const img: ImageConfig = { architecture: 'amd64', os: 'linux', config: structuredClone(base), rootfs: { type: 'layers', diff_ids: [] } };
  for (const ins of parseDockerfile(`FROM x\n${lines}`).instructions.slice(1)) {
    applyConfigStep(ins, img, envMap(img.config?.Env, args), '\\');
  }
  return img;
}

test('ENV replaces in place and appends; pairs see the environment before the instruction', () => {
  const c = apply('ENV B=2 A=new\nENV C=$A D=${B}x\n', { Env: ['PATH=/bin', 'A=old'] }).config!;
  assert.deepEqual(c.Env, ['PATH=/bin', 'A=new', 'B=2', 'C=new', 'D=2x']);
});

test('ARG values expand, ENV wins over ARG of the same name', () => {
  const c = apply('ENV X=env\nLABEL v=$V x=$X\n', {}, new Map([['V', 'arg'], ['X', 'arg']])).config!;
  assert.deepEqual(c.Labels, { v: 'arg', x: 'env' });
});

test('CMD/ENTRYPOINT: shell form through SHELL, exec form as given', () => {
  const c = apply('SHELL ["/bin/bash", "-c"]\nCMD echo $HOME\nENTRYPOINT ["/e", "x"]\n').config!;
  assert.deepEqual(c.Cmd, ['/bin/bash', '-c', 'echo $HOME']);
  assert.deepEqual(c.Entrypoint, ['/e', 'x']);
  assert.deepEqual(c.Shell, ['/bin/bash', '-c']);
});

test('EXPOSE ports, protocols and ranges; VOLUME forms; USER; STOPSIGNAL', () => {
  const c = apply('EXPOSE 80 53/udp 7000-7002/tcp\nVOLUME /a /b\nVOLUME ["/c d"]\nUSER app:grp\nSTOPSIGNAL SIGQUIT\n').config!;
  assert.deepEqual(Object.keys(c.ExposedPorts!), ['80/tcp', '53/udp', '7000/tcp', '7001/tcp', '7002/tcp']);
  assert.deepEqual(Object.keys(c.Volumes!), ['/a', '/b', '/c d']);
  assert.equal(c.User, 'app:grp');
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.throws(() => apply('EXPOSE 99999\n'), /invalid port range/);
  assert.throws(() => apply('EXPOSE abc\n'), /invalid containerPort/);
});

test('HEALTHCHECK: CMD shell and exec forms, durations, NONE', () => {
  let c = apply('HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=4 CMD curl -f localhost\n').config!;
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 90e9, Timeout: 500e6, StartPeriod: 2e9, Retries: 4 });
  c = apply('HEALTHCHECK CMD ["/bin/check", "-q"]\n').config!;
  assert.deepEqual(c.Healthcheck, { Test: ['CMD', '/bin/check', '-q'] });
  c = apply('HEALTHCHECK NONE\n').config!;
  assert.deepEqual(c.Healthcheck, { Test: ['NONE'] });
  assert.throws(() => apply('HEALTHCHECK RUN x\n'), /Unknown type "RUN" in HEALTHCHECK/);
  assert.equal(parseDuration('1h2m3s', 'interval'), 3723e9);
});

test('ONBUILD records triggers; chaining and FROM are refused; MAINTAINER sets the author', () => {
  const img = apply('ONBUILD RUN echo hi\nONBUILD COPY . /src\nMAINTAINER someone <s@example.com>\n');
  assert.deepEqual(img.config!.OnBuild, ['RUN echo hi', 'COPY . /src']);
  assert.equal(img.author, 'someone <s@example.com>');
  assert.throws(() => apply('ONBUILD ONBUILD RUN x\n'), /Chaining ONBUILD/);
  assert.throws(() => apply('ONBUILD FROM x\n'), /isn't allowed as an ONBUILD trigger/);
});
