/**
 * The engine's side of starting a VM: everything the VM runtime needs besides the OCI bundle
 * the container path already wrote (rootfs mounted, config.json, /etc files) goes into the
 * bundle's vm.json: kernel, initramfs (built and cached on first use), acceleration, vCPUs,
 * RAM.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { ContainerDoc } from '../container/model.js';
import { HullError } from '../util/errors.js';
import { chooseAccel } from './accel.js';
import { findKernel, guestInitramfs, moduleFiles } from './guest-image.js';
import { DEFAULT_BOOT_TIMEOUT_SECONDS, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, VM_FILES, vmDir, type VmSettings } from './qemu.js';

/** Docker's HostConfig.Isolation value (or runtime name) that selects the VM backend. */
export function isVm(doc: ContainerDoc): boolean {
  return doc.HostConfig.Isolation === 'vm';
}

/**
 * The VM runtime command the monitor and the engine run in place of runc: the C front
 * (native/vm/hull-vm-runtime.c), which does start/state/kill/delete itself and execs
 * runtime-main.js for the other verbs.
 */
export function vmRuntimePath(): string {
  return join(packageRoot(), 'build', 'hull-vm-runtime');
}

const MIB = 1024 * 1024;

/** What the VM backend cannot do yet, refused at create with Docker-style wording. */
export function validateVmRequest(h: ContainerDoc['HostConfig']): void {
  if (h.VmKernel && h.Isolation !== 'vm') throw new HullError('INVALID_ARGUMENT', '--kernel needs --isolation vm (a container runs on the host\'s kernel)');
  if (h.Isolation !== 'vm') return;
  if (h.NetworkMode === 'host') throw new HullError('INVALID_ARGUMENT', 'conflicting options: --network host and --isolation vm (a VM has its own kernel and network stack)');
  // The guest takes over the namespace's interfaces (vm/network.ts): another container's would go dead.
  if (h.NetworkMode?.startsWith('container:')) throw new HullError('INVALID_ARGUMENT', 'conflicting options: --network container:... and --isolation vm (the VM takes over the interfaces of its network namespace)');
  // The kernel is checked now, so a bad path fails `create` (125), not a later start.
  if (h.VmKernel) moduleFiles(findKernel(h.VmKernel).version);
  if (h.Memory && h.Memory < 64 * MIB) throw new HullError('INVALID_ARGUMENT', `a VM needs at least 64 MiB of memory (--memory ${h.Memory} bytes)`);
}

/**
 * The monitor's VM options: the exit status from the guest's report (QEMU writes the guest's
 * hull.ctl port into ctl.out); stdin as a socket (QEMU's socket chardev passes its EOF on);
 * with -t, resizes as lines on ctl.in, which the guest init applies to its pty.
 */
export function vmMonitorOptions(runtimeRoot: string, id: string, tty: boolean): { exitStatusFile: string; stdinSocket?: boolean; resizeFifo?: string } {
  const dir = vmDir(runtimeRoot, id);
  return { exitStatusFile: join(dir, VM_FILES.ctlOut), ...(tty ? { resizeFifo: join(dir, VM_FILES.ctlIn) } : { stdinSocket: true }) };
}

/** `--cpus` rounds up to whole vCPUs; `--memory` is the guest's RAM (at least 64 MiB). */
export function vmResources(doc: ContainerDoc): { cpus: number; memoryMiB: number } {
  const h = doc.HostConfig;
  const cpus = h.NanoCpus ? Math.max(1, Math.ceil(h.NanoCpus / 1e9)) : DEFAULT_CPUS;
  const memoryMiB = h.Memory ? Math.floor(h.Memory / MIB) : DEFAULT_MEMORY_MIB;
  return { cpus, memoryMiB };
}

export async function prepareVm(root: string, doc: ContainerDoc, bundleDir: string, notice: (line: string) => void): Promise<void> {
  const cacheDir = join(root, 'vm');
  const kernel = findKernel(doc.HostConfig.VmKernel);
  const initrd = await guestInitramfs(cacheDir, kernel);
  const accel = await chooseAccel(cacheDir, kernel.path, initrd, notice);
  const timeout = Number(process.env.HULL_VM_BOOT_TIMEOUT) || DEFAULT_BOOT_TIMEOUT_SECONDS;
  const settings: VmSettings = {
    kernel: kernel.path,
    initrd,
    accel,
    ...vmResources(doc),
    consoleLog: join(bundleDir, 'console.log'),
    bootTimeoutSeconds: timeout,
    // With -t the workload's stdin is the terminal, which the monitor feeds.
    stdin: doc.Config.OpenStdin && !doc.Config.Tty,
    tty: doc.Config.Tty,
  };
  await writeFile(join(bundleDir, 'vm.json'), JSON.stringify(settings));
}
