import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { applyChanges, processWord } from './changes.js';

void describe('applyChanges', () => {
  void it('takes CMD and ENTRYPOINT in exec and shell form', () => {
    assert.deepEqual(applyChanges({}, ['CMD ["sh"]']).Cmd, ['sh']);
    assert.deepEqual(applyChanges({}, ['cmd echo $HOME']).Cmd, ['/bin/sh', '-c', 'echo $HOME']);
    assert.deepEqual(applyChanges({}, ['ENTRYPOINT ["/bin/app", "-v"]']).Entrypoint, ['/bin/app', '-v']);
    assert.deepEqual(applyChanges({}, ['ENTRYPOINT run it']).Entrypoint, ['/bin/sh', '-c', 'run it']);
    // Not a JSON string array: shell form, as Docker does.
    assert.deepEqual(applyChanges({}, ['CMD [1, 2]']).Cmd, ['/bin/sh', '-c', '[1, 2]']);
  });

  void it('clears an inherited CMD on ENTRYPOINT, but keeps one set in the same changes', () => {
    assert.equal(applyChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["e"]']).Cmd, null);
    assert.deepEqual(applyChanges({ Cmd: ['old'] }, ['CMD ["new"]', 'ENTRYPOINT ["e"]']).Cmd, ['new']);
  });

  void it('sets ENV in both forms, replacing existing keys and expanding earlier values', () => {
    const cfg = applyChanges({ Env: ['PATH=/bin', 'A=x'] }, ['ENV A=b', 'ENV B two words', 'ENV C="$A-${B}" D=\'$A\'', 'ENV PATH=$PATH:/opt']);
    assert.deepEqual(cfg.Env, ['PATH=/bin:/opt', 'A=b', 'B=two words', 'C=b-two words', 'D=$A']);
  });

  void it('sets labels, ports, user, workdir, volumes, stop signal and onbuild', () => {
    const cfg = applyChanges({ WorkingDir: '/srv' }, [
      'LABEL a=1 "b c"=2',
      'EXPOSE 80 53/udp 8000-8002',
      'USER app:app',
      'WORKDIR data',
      'VOLUME ["/v1", "/v2"]',
      'VOLUME /v3',
      'STOPSIGNAL SIGQUIT',
      'ONBUILD RUN echo hi',
    ]);
    assert.deepEqual(cfg.Labels, { a: '1', 'b c': '2' });
    assert.deepEqual(Object.keys(cfg.ExposedPorts ?? {}), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
    assert.equal(cfg.User, 'app:app');
    assert.equal(cfg.WorkingDir, '/srv/data');
    assert.deepEqual(Object.keys(cfg.Volumes ?? {}), ['/v1', '/v2', '/v3']);
    assert.equal(cfg.StopSignal, 'SIGQUIT');
    assert.deepEqual(cfg.OnBuild, ['RUN echo hi']);
  });

  void it('parses HEALTHCHECK', () => {
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK --interval=5s --retries=3 CMD curl -f localhost']).Healthcheck, {
      Test: ['CMD-SHELL', 'curl -f localhost'],
      Interval: 5e9,
      Retries: 3,
    });
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
  });

  void it('joins continuation lines and skips comments', () => {
    assert.deepEqual(applyChanges({}, ['# comment', 'ENV A=1 \\', '  B=2']).Env, ['A=1', 'B=2']);
  });

  void it('does not modify its input', () => {
    const base = { Env: ['A=1'] };
    applyChanges(base, ['ENV A=2']);
    assert.deepEqual(base.Env, ['A=1']);
  });

  void it('refuses unknown and non-metadata instructions with moby\'s message', () => {
    for (const [change, message] of [
      ['FOO bar', 'FOO is not a valid change command'],
      ['RUN echo', 'RUN is not a valid change command'],
      ['STOPSIGNAL NOPE', 'Invalid signal: NOPE'],
      ['EXPOSE http', 'invalid containerPort: http'],
      ['USER a b', 'USER requires exactly one argument'],
      ['ENV', 'ENV requires at least one argument'],
      ['ENV a=1 b', 'Syntax error - can\'t find = in "b". Must be of the form: name=value'],
      ['ONBUILD FROM x', "FROM isn't allowed as an ONBUILD trigger"],
    ] as const) {
      assert.throws(
        () => applyChanges({}, [change]),
        (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && e.message === message,
        change,
      );
    }
    // Nothing is applied when any change is invalid.
    assert.throws(() => applyChanges({}, ['ENV A=1', 'COPY . /']), /COPY is not a valid change command/);
  });
});

void describe('processWord', () => {
  void it('removes quotes and escapes and expands variables', () => {
    const env = ['A=x', 'EMPTY='];
    assert.equal(processWord('"a b"\\ c', env), 'a b c');
    assert.equal(processWord('${A}-$A-\\$A', env), 'x-x-$A');
    assert.equal(processWord('${EMPTY:-def}${A:+alt}${NOPE}', env), 'defalt');
  });
});
