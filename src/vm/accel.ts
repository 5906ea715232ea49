/**
 * KVM or TCG. A /dev/kvm that opens is not proof that KVM works: on some hosts (nested setups,
 * this project's build machine) guests hang right after the kernel starts. So the first VM of a
 * hull root boots the guest kernel once under KVM with a probe flag (the guest init powers off
 * as soon as it runs); if that does not finish in time hull uses TCG and says so once. The
 * answer is cached per kernel; HULL_VM_ACCEL=kvm|tcg overrides both.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';
import { QEMU_BINARY, qemuArgs, type VmSettings } from './qemu.js';

const PROBE_TIMEOUT_MS = 10_000;

function kvmOpens(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when a KVM guest reached its init and powered off within the probe's time. */
async function probeKvm(cacheDir: string, kernel: string, initrd: string): Promise<boolean> {
  const consoleLog = join(cacheDir, `probe-${process.pid}.log`);
  const settings: VmSettings = { kernel, initrd, accel: 'kvm', cpus: 1, memoryMiB: 256, consoleLog, bootTimeoutSeconds: 0, stdin: false };
  try {
    return await new Promise<boolean>((resolve) => {
      const child = spawn(QEMU_BINARY, qemuArgs(settings, { paused: false, probe: true }), { stdio: 'ignore' });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(false);
      }, PROBE_TIMEOUT_MS);
      child.on('error', () => resolve(false));
      child.on('exit', () => {
        clearTimeout(timer);
        let text = '';
        try {
          text = readFileSync(consoleLog, 'utf8');
        } catch {
          // no console output at all
        }
        resolve(text.includes('hull-vm-init: probe ok'));
      });
    });
  } finally {
    await rm(consoleLog, { force: true });
  }
}

export async function chooseAccel(cacheDir: string, kernel: string, initrd: string, notice: (line: string) => void): Promise<'kvm' | 'tcg'> {
  const forced = process.env.HULL_VM_ACCEL;
  if (forced) {
    if (forced !== 'kvm' && forced !== 'tcg') throw new HullError('INVALID_ARGUMENT', `HULL_VM_ACCEL must be kvm or tcg, not "${forced}"`);
    return forced;
  }
  if (!kvmOpens()) return 'tcg';
  const cache = join(cacheDir, 'accel.json');
  try {
    const c = JSON.parse(readFileSync(cache, 'utf8')) as { kernel: string; accel: 'kvm' | 'tcg' };
    if (c.kernel === kernel) return c.accel;
  } catch {
    // not probed yet
  }
  await mkdir(cacheDir, { recursive: true });
  const accel = (await probeKvm(cacheDir, kernel, initrd)) ? 'kvm' : 'tcg';
  if (accel === 'tcg') notice('hull: /dev/kvm cannot run a guest on this host (probe boot hung); VMs use QEMU\'s TCG emulation (slower)');
  await writeFile(cache, JSON.stringify({ kernel, accel }));
  return accel;
}
