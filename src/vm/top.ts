/**
 * `hull top` of a VM: the guest's processes, listed by the guest init from the guest's /proc in
 * `ps -ef`'s columns (over an exec channel: vm/exec.ts vmProcessList, the runtime's `top`
 * verb). The host's `ps` would only show QEMU; the image may have no `ps` of its own.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HullError } from '../util/errors.js';

const runFile = promisify(execFile);

/** The listing and its PIDs. ps options cannot apply to it: any but Docker's default are refused. */
export async function vmGuestProcesses(runtime: { path: string; root: string }, id: string, psArgs: string): Promise<{ output: string; pids: number[] }> {
  if (psArgs.trim() !== '-ef' && psArgs.trim() !== '') {
    throw new HullError('INVALID_ARGUMENT', `top of a VM lists the guest's processes in the columns of ps -ef; ps options ("${psArgs}") are not supported`);
  }
  let output: string;
  try {
    output = (await runFile(runtime.path, ['--root', runtime.root, 'top', id], { maxBuffer: 64 << 20 })).stdout;
  } catch (e) {
    const stderr = ((e as { stderr?: string }).stderr ?? '').trim();
    throw new HullError('INTERNAL', `listing the VM's processes: ${stderr || (e as Error).message}`, { cause: e });
  }
  const pids = output
    .split('\n')
    .slice(1)
    .map((l) => Number(l.trim().split(/\s+/)[1]))
    .filter((n) => n > 0);
  return { output, pids };
}
