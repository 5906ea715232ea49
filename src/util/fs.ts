import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A unique name next to `target`, so the final rename stays on one filesystem (atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Write a whole file atomically: temp file, fsync, rename. Readers see the old or the new file, never half. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, target);
}

/**
 * Replace a file by rename without fsync: for files regenerated on every use (a container's
 * bundle and /etc files), where a crash costs nothing but a rewrite and fsync costs tens of ms.
 * Synchronous: these files are small (tens of KiB at most), and each async call is a round trip
 * through libuv's thread pool (3-20 ms for a container's /etc files on a loaded machine, against
 * ~0.3 ms of syscalls).
 */
export function replaceFileSync(target: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(target);
  writeFileSync(tmp, data);
  renameSync(tmp, target);
}

/** replaceFileSync for callers that await it. */
export async function replaceFile(target: string, data: string | Uint8Array): Promise<void> {
  replaceFileSync(target, data);
  return Promise.resolve();
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Temp entries are named `<pid>-…`; remove those whose writer process is gone, so a crash
 * mid-write leaves nothing that outlives the next command. `beforeRemove` undoes what a plain
 * delete cannot (a mount inside the entry); when it throws (or rejects), the entry is left for
 * next time.
 */
export async function sweepDeadPidEntries(dir: string, beforeRemove?: (path: string) => void | Promise<void>): Promise<void> {
  let names: string[];
  try {
    // Synchronous: every command sweeps at start and the directory is almost always empty; a
    // thread-pool round trip per call cost more than the listing (see docs/ARCHITECTURE.md).
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && isPidAlive(pid))) continue;
    try {
      await beforeRemove?.(join(dir, name));
    } catch {
      continue; // still in use (a mount that will not go): next time
    }
    await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** A temp name that sweepDeadPidEntries can attribute to this process. */
export function pidTempName(): string {
  return `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`;
}
