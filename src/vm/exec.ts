/**
 * The VM runtime's `exec` verb (`exec --process FILE [--detach] ID`, as runc's), so the engine's
 * exec path (container/exec.ts runExec) runs unchanged for VMs: this process's stdio is the
 * exec's stdio, its exit status the process's, a start failure is an `exec failed: …` error in
 * the --log file, as runc logs it.
 *
 * The channel is one of the VM's hull.execN virtio serial ports (QEMU socket chardevs
 * `execN.sock` in the VM directory; the guest side and the frame protocol are
 * native/vm/guest-exec.c). A slot is taken with an flock on its lock file (a dead holder's
 * lock is dropped by the kernel), the port's socket is connected, the request written, and the
 * guest init told on hull.ctl (`exec N ID`) to serve the port for session ID. The session id
 * in every frame is what makes a slot safe to reuse: whatever an earlier exec on it left
 * behind (a killed client's last frames, output QEMU still held) is skipped by both sides.
 */
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync, constants as fsc } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { constants as osc } from 'node:os';
import { join } from 'node:path';
import type { OciProcess } from '../container/spec/oci-types.js';
import { HullError, messageOf } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';
import { FrameReader, encodeFrame, exitStatusOf, newSessionId, requestFrame, stdinFrames } from './exec-frames.js';
import { homeOf } from './guest-config.js';
import { EXEC_SLOTS, VM_FILES } from './qemu.js';

/** How long the guest may take to answer a request under TCG on a loaded host. */
const START_TIMEOUT_MS = 60_000;

/** Signals to this process that go on to the exec's process (runExec forwards them here). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface VmExecOptions {
  /** The VM's runtime directory (QEMU's cwd; its sockets have relative names there). */
  dir: string;
  /** The container's rootfs on the host: HOME comes from its passwd, as runc sets it. */
  rootfs: string;
  process: OciProcess & { consoleSize?: { height: number; width: number } };
  detach: boolean;
}

function lockPath(dir: string, slot: number): string {
  return join(dir, `exec${slot}.lock`);
}

/** The slots this process holds: the open lock file of each (its flock is the hold). */
const held = new Map<number, number>();

/**
 * A free exec slot, held for this process until `release`. The hold is an flock on the slot's
 * lock file, which the kernel drops when the holder dies: an O_EXCL pid file (before) could be
 * read empty between its creation and its pid's write, taken for a dead holder's and taken
 * over, so two execs ran on one slot (seen: one of "two at once" hung).
 */
export function takeSlot(dir: string): number {
  for (let slot = 0; slot < EXEC_SLOTS; slot++) {
    const fd = openSync(lockPath(dir, slot), fsc.O_RDWR | fsc.O_CREAT, 0o600);
    if (nativeAddon().flockExclusive(fd)) {
      held.set(slot, fd);
      // The holder's pid, for whoever looks (the lock is the flock, not the content).
      ftruncateSync(fd);
      writeSync(fd, String(process.pid), 0);
      return slot;
    }
    closeSync(fd);
  }
  throw new HullError('CONFLICT', `too many execs running in this VM at once (at most ${EXEC_SLOTS})`);
}

/** Closing the lock file drops the flock (the file stays: unlinking it would race a new taker). */
function release(_dir: string, slot: number): void {
  const fd = held.get(slot);
  if (fd === undefined) return;
  held.delete(slot);
  closeSync(fd);
}

function terminalSize(o: VmExecOptions): { rows: number; cols: number } | undefined {
  if (process.stdout.isTTY && process.stdout.rows && process.stdout.columns) return { rows: process.stdout.rows, cols: process.stdout.columns };
  const c = o.process.consoleSize;
  return c ? { rows: c.height, cols: c.width } : undefined;
}

/** Runs the exec; resolves with its exit status (0 once started with `detach`). */
export async function vmExec(o: VmExecOptions): Promise<number> {
  const slot = takeSlot(o.dir);
  try {
    return await runOnSlot(o, slot);
  } finally {
    release(o.dir, slot);
  }
}

/**
 * Connects to slot's port, writes `request` (of session `id`) and has the guest init serve the
 * port for that session. Relative socket path: a unix socket path is limited to 107 bytes (the
 * runtime runs in the VM directory).
 */
async function openChannel(dir: string, slot: number, id: number, request: Buffer): Promise<Socket> {
  process.chdir(dir);
  const sock = createConnection(`exec${slot}.sock`);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (e) => reject(new HullError('INTERNAL', `the VM's exec channel: ${messageOf(e)}`)));
  });
  // The request waits in the socket until the guest opens the port.
  sock.write(request);
  const ctl = openSync(join(dir, VM_FILES.ctlIn), fsc.O_WRONLY | fsc.O_NONBLOCK);
  try {
    writeFileSync(ctl, `exec ${slot} ${id}\n`);
  } finally {
    closeSync(ctl);
  }
  return sock;
}

/** The guest's processes in `ps -ef`'s columns (guest-exec.c lists them from its /proc). */
export async function vmProcessList(dir: string): Promise<string> {
  const slot = takeSlot(dir);
  try {
    const id = newSessionId();
    const sock = await openChannel(dir, slot, id, encodeFrame('L', id));
    return await new Promise<string>((resolve, reject) => {
      const reader = new FrameReader(id);
      const out: Buffer[] = [];
      const timer = setTimeout(() => sock.destroy(new Error(`the VM did not list its processes within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      sock.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.type === 'O') out.push(f.data);
          else if (f.type === 'X') {
            clearTimeout(timer);
            sock.destroy();
            resolve(Buffer.concat(out).toString());
          }
        }
      });
      sock.on('error', (e) => reject(e));
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new Error('the VM stopped while listing its processes'));
      });
    });
  } finally {
    release(dir, slot);
  }
}

async function runOnSlot(o: VmExecOptions, slot: number): Promise<number> {
  const p = o.process;
  const tty = p.terminal && !o.detach;
  const env = [...p.env];
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${homeOf(o.rootfs, p.user.uid)}`);
  const size = tty ? terminalSize(o) : undefined;
  const id = newSessionId();
  const request =
    requestFrame(id, {
      args: p.args,
      env,
      cwd: p.cwd || '/',
      uid: p.user.uid,
      gid: p.user.gid,
      additionalGids: p.user.additionalGids ?? [],
      tty,
      stdin: !o.detach,
      detach: o.detach,
      ...(size ? { size } : {}),
    });
  return relay(o, await openChannel(o.dir, slot, id, request), id, tty);
}

/** Frames from the guest to this process's stdio, its stdin and signals to the guest. */
function relay(o: VmExecOptions, sock: Socket, id: number, tty: boolean): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let started = false;
    const rawTerminal = tty && process.stdin.isTTY;
    const timer = setTimeout(() => finish(new HullError('INTERNAL', `the VM did not start the exec within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const onSignal = (sig: NodeJS.Signals): void => {
      sock.write(encodeFrame('K', id, String(osc.signals[sig])));
    };
    const onResize = (): void => {
      const s = terminalSize(o);
      if (s) sock.write(encodeFrame('W', id, `${s.rows} ${s.cols}`));
    };
    const onStdin = (d: Buffer): void => {
      for (const f of stdinFrames(id, d)) sock.write(f);
    };
    const onStdinEnd = (): void => {
      if (!sock.destroyed) sock.write(encodeFrame('C', id));
    };
    const finish = (err: Error | undefined, status = 0): void => {
      clearTimeout(timer);
      for (const s of FORWARDED) process.off(s, onSignal);
      process.off('SIGWINCH', onResize);
      process.stdin.off('data', onStdin);
      process.stdin.off('end', onStdinEnd);
      if (rawTerminal) process.stdin.setRawMode(false);
      process.stdin.pause();
      sock.destroy();
      if (err) reject(err);
      else resolve(status);
    };
    for (const s of FORWARDED) process.on(s, onSignal);
    const reader = new FrameReader(id);
    sock.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.type === 'O') process.stdout.write(f.data);
        else if (f.type === 'E') process.stderr.write(f.data);
        else if (f.type === 'F') return finish(new ExecFailed(f.data.toString()));
        else if (f.type === 'X') return finish(undefined, exitStatusOf(f.data.toString()));
        else if (f.type === 'S') {
          started = true;
          clearTimeout(timer);
          if (o.detach) return finish(undefined, 0);
          startInput();
        }
      }
    });
    sock.on('error', () => undefined);
    // The port closed without an end report: the VM powered off (its workload ended) or died.
    sock.on('close', () => finish(started ? undefined : new HullError('CONFLICT', 'the VM stopped before the exec started'), 137));

    function startInput(): void {
      if (rawTerminal) process.stdin.setRawMode(true);
      if (tty) process.on('SIGWINCH', onResize);
      process.stdin.on('data', onStdin);
      process.stdin.on('end', onStdinEnd);
      process.stdin.resume();
    }
  });
}

/** The guest could not start the process: "STATUS MESSAGE" from guest-exec.c. */
export class ExecFailed extends Error {
  readonly status: number;
  constructor(report: string) {
    const space = report.indexOf(' ');
    super(space > 0 ? report.slice(space + 1) : report);
    this.status = Number(report.slice(0, space)) || 126;
  }
}
