/**
 * What a VM needs on disk besides the image, and how its CPU runs: the same kernel, initramfs
 * and accelerator choice `hull run --isolation vm` makes (src/vm/prepare.ts), asked the same way
 * so the numbers are those of the VMs compare starts.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chooseAccel } from '../vm/accel.js';
import { findKernel, guestInitramfs } from '../vm/guest-image.js';

export interface VmFootprint {
  kernelBytes: number;
  initramfsBytes: number;
  accelerator: 'kvm' | 'tcg';
}

export async function vmFootprint(root: string, notice: (line: string) => void): Promise<VmFootprint> {
  const cacheDir = join(root, 'vm');
  const kernel = findKernel();
  const initrd = await guestInitramfs(cacheDir, kernel);
  const accelerator = await chooseAccel(cacheDir, kernel.path, initrd, notice);
  return { kernelBytes: (await stat(kernel.path)).size, initramfsBytes: (await stat(initrd)).size, accelerator };
}
