import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execEnv, execProcess, expandEnvFlag, lastLoggedError, parseEnvFile, replaceOrAppendEnv } from './exec.js';
import type { OciProcess } from './spec/oci-types.js';

void describe('exec environment', () => {
  void it("builds Docker's order: PATH, HOSTNAME, TERM (tty), container env, -e", () => {
    assert.deepEqual(execEnv(['PATH=/bin', 'A=1'], 'h', true, ['A=2', 'B=3']), ['PATH=/bin', 'HOSTNAME=h', 'TERM=xterm', 'A=2', 'B=3']);
    assert.deepEqual(execEnv([], 'h', false, []), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=h']);
  });

  void it('a bare name removes the variable', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1', 'B=2'], ['A']), ['B=2']);
  });

  void it('-e NAME takes the value from the caller, or stays bare', () => {
    assert.equal(expandEnvFlag('X', { X: 'y' }), 'X=y');
    assert.equal(expandEnvFlag('X', {}), 'X');
    assert.equal(expandEnvFlag('X=1=2', {}), 'X=1=2');
    assert.throws(() => expandEnvFlag('=x', {}), /invalid environment variable/);
  });

  void it('--env-file skips comments and blanks and reads bare names from the caller', () => {
    assert.deepEqual(parseEnvFile('# c\n\n  A=1\nB\nC\nD= spaced \n', 'f', { B: 'b' }), ['A=1', 'B=b', 'D= spaced ']);
    assert.throws(() => parseEnvFile('A B=1\n', 'f', {}), /contains whitespaces/);
  });
});

void describe('exec process spec', () => {
  const base: OciProcess = {
    terminal: false,
    user: { uid: 0, gid: 0 },
    args: ['sleep', '1'],
    env: ['X=1'],
    cwd: '/',
    capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'], inheritable: [] },
    noNewPrivileges: true,
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }],
  };

  void it("keeps the container's confinement and replaces what the exec sets", () => {
    const p = execProcess({ base, args: ['id'], env: ['Y=2'], cwd: '/tmp', user: { uid: 1000, gid: 1000, additionalGids: [1000] }, tty: true, consoleSize: { rows: 24, cols: 80 } });
    assert.deepEqual(p.args, ['id']);
    assert.deepEqual(p.env, ['Y=2']);
    assert.equal(p.cwd, '/tmp');
    assert.equal(p.terminal, true);
    assert.deepEqual(p.user, { uid: 1000, gid: 1000, additionalGids: [1000] });
    assert.deepEqual(p.capabilities, base.capabilities);
    assert.equal(p.noNewPrivileges, true);
    assert.deepEqual(p.rlimits, base.rlimits);
    assert.deepEqual(p.consoleSize, { height: 24, width: 80 });
  });

  void it('--privileged: every capability given, inheritable stays empty', () => {
    const p = execProcess({ base, args: ['id'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, tty: false, capabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] });
    assert.deepEqual(p.capabilities?.effective, ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    assert.deepEqual(p.capabilities?.inheritable, []);
    assert.equal(p.consoleSize, undefined);
  });
});

void describe("runc's log", () => {
  void it('the last error wins; other levels and torn lines are ignored', () => {
    const log = '{"level":"warning","msg":"w"}\n{"level":"error","msg":"exec failed: x"}\n{"level":"err';
    assert.equal(lastLoggedError(log), 'exec failed: x');
    assert.equal(lastLoggedError('{"level":"info","msg":"i"}\n'), undefined);
  });
});
