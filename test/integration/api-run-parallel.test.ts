/**
 * Many `docker run` at once through `hull serve`: each one's output must arrive exactly once.
 *
 * The docker CLI attaches before it starts, so the server parks the attach until the start
 * request connects it. A parked attach also polls the state, for a start by another process.
 * Under load `runc start` is slow, and while it runs the state already reads `running` (the
 * reconcile on read sees runc's exec.fifo gone): the poll used to attach a second time, and the
 * container's output reached the client twice. Parallel runs make `runc start` slow enough for
 * that window to open, and the sleep keeps the output after any second attach.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerCli, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip } from '../helpers/hull.js';

const skip = containerTestSkip(['runc', 'skopeo', DOCKER_CLI]);

const PARALLEL = 12;
const ROUNDS = 2;

let server: ApiServer;
let work: string;

describe('parallel docker run through hull serve', { skip, timeout: 900_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-parallel-'));
    server = await startApiServer();
    await loadBusybox(server.root, work);
  });

  after(async () => {
    if (server) {
      const left = (await dockerCli(server, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (left.length > 0) await dockerCli(server, ['rm', '-f', ...left]);
      await server.stop();
    }
    await rm(work, { recursive: true, force: true });
  });

  test(`${PARALLEL} at a time, ${ROUNDS} rounds: every output exactly once, every container removed`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const runs = Array.from({ length: PARALLEL }, (_, i) => {
        const tag = `r${round}-${i}`;
        // stdout and stderr both, so a doubled frame of either stream shows.
        return dockerCli(server, ['run', '--rm', 'busybox', 'sh', '-c', `sleep 0.5; echo out-${tag}; echo err-${tag} >&2`], { timeoutMs: 300_000 }).then((r) => ({ tag, r }));
      });
      for (const { tag, r } of await Promise.all(runs)) {
        assert.equal(r.code, 0, `run ${tag}: ${r.stderr}`);
        assert.equal(r.stdout, `out-${tag}\n`, `run ${tag}: stdout`);
        assert.equal(r.stderr, `err-${tag}\n`, `run ${tag}: stderr`);
      }
    }
    assert.deepEqual((await dockerCli(server, ['ps', '-aq'])).stdout, '', '--rm removed every container');
  });
});
