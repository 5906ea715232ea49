/**
 * The engine's side of starting a VM: everything the VM runtime needs besides the OCI bundle
 * the container path already wrote (rootfs mounted, config.json, /etc files) goes into the
 * bundle's vm.json: kernel, initramfs (built and cached on first use), acceleration, vCPUs,
 * RAM.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerDoc } from '../container/model.js';
import { HullError } from '../util/errors.js';
import { chooseAccel } from './accel.js';
import { findKernel, guestInitramfs } from './guest-image.js';
import { DEFAULT_BOOT_TIMEOUT_SECONDS, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, VM_FILES, vmDir, type VmSettings } from './qemu.js';

/** Docker's HostConfig.Isolation value (or runtime name) that selects the VM backend. */
export function isVm(doc: ContainerDoc): boolean {
  return doc.HostConfig.Isolation === 'vm';
}

/** The VM runtime command the monitor and the engine run in place of runc. */
export function vmRuntimePath(): string {
  return fileURLToPath(new URL('./runtime-main.js', import.meta.url));
}

const MIB = 1024 * 1024;

/** What the VM backend cannot do yet, refused at create with Docker-style wording. */
export function validateVmRequest(h: ContainerDoc['HostConfig'], tty: boolean): void {
  if (h.Isolation !== 'vm') return;
  if (tty) throw new HullError('INVALID_ARGUMENT', 'a terminal (-t) is not supported with --isolation vm yet');
  if (h.NetworkMode === 'host') throw new HullError('INVALID_ARGUMENT', 'conflicting options: --network host and --isolation vm (a VM has its own kernel and network stack)');
  // The guest takes over the namespace's interfaces (vm/network.ts): another container's would go dead.
  if (h.NetworkMode?.startsWith('container:')) throw new HullError('INVALID_ARGUMENT', 'conflicting options: --network container:... and --isolation vm (the VM takes over the interfaces of its network namespace)');
  if (h.Memory && h.Memory < 64 * MIB) throw new HullError('INVALID_ARGUMENT', `a VM needs at least 64 MiB of memory (--memory ${h.Memory} bytes)`);
}

/** Where the guest's exit report lands (QEMU writes the guest's hull.ctl port into it). */
export function vmExitStatusFile(runtimeRoot: string, id: string): string {
  return join(vmDir(runtimeRoot, id), VM_FILES.ctlOut);
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
  const kernel = findKernel();
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
    stdin: doc.Config.OpenStdin,
  };
  await writeFile(join(bundleDir, 'vm.json'), JSON.stringify(settings));
}
