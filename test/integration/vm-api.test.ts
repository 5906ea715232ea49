/**
 * A VM through the Engine API: the real docker CLI against `hull serve` runs an image with
 * `--isolation vm` and execs into it (the API's exec endpoints go through the engine's exec, so
 * through the VM runtime's exec verb); a stopped VM's exec is Docker's 409.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerCli, dockerInPty, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { until } from '../helpers/hull.js';
import { vmTestSkip } from '../helpers/vm.js';
import { vmLeftovers } from '../helpers/leftovers.js';
import { findKernel } from '../../src/vm/guest-image.js';

const skip = vmTestSkip(['script'], [DOCKER_CLI]);

/** POST with an empty JSON body over the server's socket: [status, body]. */
function post(server: ApiServer, path: string, body: unknown): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: server.socket, path, method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => resolve([res.statusCode ?? 0, data]));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('VMs through the Engine API', { skip, concurrency: 1 }, () => {
  let server: ApiServer;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-vm-api-'));
    server = await startApiServer({ HULL_VM_ACCEL: 'tcg' });
    await loadBusybox(server.root, work);
  });

  after(async () => {
    if (server) {
      const ids = (await dockerCli(server, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await dockerCli(server, ['rm', '-f', ...ids], { timeoutMs: 120_000 });
      const root = server.root;
      await server.stop();
      assert.deepEqual(vmLeftovers(root), []);
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('docker run --isolation vm, then docker exec (plain, -i, -e/-u/-w, -it with its size, -d); a stopped VM answers 409', async () => {
    const opts = { timeoutMs: 240_000 };
    const run = await dockerCli(server, ['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', 'apivm', 'busybox', 'sleep', '600'], opts);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const inspect = await dockerCli(server, ['inspect', '-f', '{{.HostConfig.Isolation}}', 'apivm']);
    assert.equal(inspect.stdout.trim(), 'vm');

    const plain = await dockerCli(server, ['exec', 'apivm', 'sh', '-c', 'uname -r; echo e >&2; exit 4'], opts);
    assert.deepEqual([plain.code, plain.stdout, plain.stderr], [4, `${findKernel().version}\n`, 'e\n']);
    const piped = await dockerCli(server, ['exec', '-i', '-e', 'A=b', '-u', '1000', '-w', '/tmp', 'apivm', 'sh', '-c', 'cat; echo "$A"; id -u; pwd'], { ...opts, input: 'in\n' });
    assert.deepEqual([piped.code, piped.stdout], [0, 'in\nb\n1000\n/tmp\n'], piped.stderr);
    const tty = await dockerInPty(server, `stty rows 21 cols 63; ${DOCKER_CLI} exec -it apivm sh -c 'tty; stty size'`, opts);
    assert.equal(tty.code, 0, tty.stdout);
    assert.match(tty.stdout, /\/dev\/pts\/\d+\r\n21 63\r\n/);
    const detached = await dockerCli(server, ['exec', '-d', 'apivm', 'sh', '-c', 'echo d > /tmp/d'], opts);
    assert.equal(detached.code, 0, detached.stderr);

    const stop = await dockerCli(server, ['stop', '-t', '1', 'apivm'], opts);
    assert.equal(stop.code, 0, stop.stderr);
    const refused = await dockerCli(server, ['exec', 'apivm', 'true']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /container [0-9a-f]{64} is not running/);
    const [status, body] = await post(server, `/v1.44/containers/${id}/exec`, { Cmd: ['true'] });
    assert.equal(status, 409, body);
    assert.match(body, /is not running/);
    // The monitor's exit command deletes the VM's runtime state just after the stop returns.
    await until('the VM runtime directory to be removed', () => !existsSync(join(server.root, 'runtime', id)) || undefined, 30_000);
  });
});
