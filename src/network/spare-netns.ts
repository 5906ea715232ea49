/**
 * A network namespace made ahead of need, as the prespawned monitor is (container/monitor.ts):
 * an idle warm CLI worker, and `hull serve` after each use, make one empty namespace, and the
 * next container start binds it onto its own path (`/run/netns/hull-<id>`, as `ip netns attach`
 * does) instead of having the kernel make one then (`unshare(CLONE_NEWNET)`, 5-6 ms on a thread,
 * which the start waited for before `runc create`; a bind mount is tens of µs).
 *
 * The spare is held only by a file descriptor of this process, never by a mount or a name: it is
 * nobody's until taken (no `ip netns` entry, no state anywhere), and a process that ends without
 * using it — a command that starts no container, a worker killed — frees it with its fd table,
 * so there is nothing to sweep. Taken once: the fd is closed right after the bind.
 */
import { closeSync } from 'node:fs';
import { nativeAddon } from '../util/native.js';

/**
 * After a take, the refill waits this long: making a namespace is kernel work on a pool
 * thread, and on a small host it would compete for the CPU with the start that took the spare
 * (its `runc create` is ~40 ms). A start that finds no spare makes its own, as before.
 */
const REFILL_DELAY_MS = 100;

let spare: { fd: number } | undefined;
let making: Promise<void> | undefined;
let refill = false;

/**
 * Make the spare now (on libuv's pool; resolves when it is there or could not be made: then a
 * start creates its namespace as before). `keepOne`: make a new one after each use (`hull serve`).
 */
export function prepareSpareNetns(o: { keepOne?: boolean } = {}): Promise<void> {
  if (o.keepOne) refill = true;
  if (spare || making) return making ?? Promise.resolve();
  if (process.getuid?.() !== 0) return Promise.resolve();
  making = nativeAddon()
    .netnsSpareAsync()
    .then((fd) => {
      spare = { fd };
    })
    .catch(() => undefined)
    .finally(() => {
      making = undefined;
    });
  return making;
}

/**
 * Bind the spare onto `path` (a container's namespace path, which must not exist): true when the
 * namespace there is now the spare, false when there is none (or the bind failed: the caller then
 * makes the namespace itself; a taken path is the caller's error to see).
 */
export function takeSpareNetns(path: string): boolean {
  const s = spare;
  if (!s) return false;
  spare = undefined;
  if (refill) setTimeout(() => void prepareSpareNetns(), REFILL_DELAY_MS).unref();
  try {
    nativeAddon().netnsAttach(s.fd, path);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(s.fd);
  }
}

/** The fd of the spare this process holds, if any (for tests and traces). */
export function spareNetnsFd(): number | undefined {
  return spare?.fd;
}
