/**
 * `runc start` without runc. runc splits create and start with a FIFO: the container's init,
 * fully set up, blocks opening `<runc root>/<id>/exec.fifo` for writing; `runc start` opens it
 * for reading, which lets init write "0" and exec the workload, reads that "0" and removes the
 * FIFO (runc 1.x, libcontainer's `exec()`/`handleFifoResult`). Doing the same here saves a Go
 * process start per container (~10 ms of CPU, 10-15 ms of wall time on this host).
 *
 * Once the FIFO is open the workload is on its way, so from then on there is no falling back:
 * the only outcomes are "started" or an error. Before that (no FIFO: not runc's layout, or not
 * in the created state) the caller runs the runtime's own `start`.
 */
import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';

/** How long init may take to write its "0" once we are the reader (it is normally already waiting). */
const WRITE_TIMEOUT_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start the created container `id` of a runc state root. false: there is no exec.fifo (nothing
 * was done; use `runtime start`). Throws when init went away without starting the workload.
 */
export async function startThroughFifo(runtimeRoot: string, id: string, initPid: number): Promise<boolean> {
  const path = join(runtimeRoot, id, 'exec.fifo');
  let fd: number;
  try {
    // Non-blocking (libuv adds O_CLOEXEC): an open for reading never waits for a writer, and reads say EAGAIN
    // (writer there, nothing written yet) or 0 (no writer now: not yet opened, or done).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(16);
    let got = '';
    const deadline = Date.now() + WRITE_TIMEOUT_MS;
    for (;;) {
      let n = -1;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n > 0) {
        got += buf.toString('utf8', 0, n);
        continue;
      }
      // EOF after the "0": init wrote and closed its end; it is exec'ing the workload.
      if (n === 0 && got !== '') break;
      if (n === 0 && !alive(initPid)) throw new HullError('INTERNAL', 'container process is already dead');
      if (Date.now() > deadline) throw new HullError('INTERNAL', `the container's init did not start within ${WRITE_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 1));
    }
    if (got !== '0') throw new HullError('INTERNAL', `cannot start a container that is not created (exec.fifo said ${JSON.stringify(got)})`);
    unlinkSync(path);
    return true;
  } finally {
    closeSync(fd);
  }
}
