/** What the VM tests share: the reason to skip them on a host that cannot boot a hull VM. */
import { findKernel } from '../../src/vm/guest-image.js';
import { containerTestSkip } from './hull.js';

function kernelSkip(): false | string {
  try {
    findKernel();
    return false;
  } catch {
    return 'needs a guest kernel (linux-image-cloud-amd64)';
  }
}

/** False when QEMU, virtiofsd, a guest kernel and the test image tools are all there. */
export function vmTestSkip(extraCommands: string[] = [], extraFiles: string[] = []): false | string {
  return containerTestSkip(['skopeo', 'qemu-system-x86_64', ...extraCommands], ['/bin/busybox', '/usr/lib/qemu/virtiofsd', ...extraFiles]) || kernelSkip();
}
