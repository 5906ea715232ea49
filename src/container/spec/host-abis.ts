/**
 * The system-call ABIs the running kernel executes, as seccomp architectures, for
 * seccompForContainer's `kernelAbis`.
 *
 * Docker's profile gives every amd64 container a filter for three ABIs: x86_64, x86 (32-bit
 * `int 0x80`) and x32. libseccomp compiles each one into the filter when runc creates the
 * container, ~7 ms apiece under runc 1.1 (bench/runtime.ts), and most distribution kernels
 * refuse x32 calls (`syscall.x32=n`), some also 32-bit ones (`ia32_emulation=0`). hull leaves
 * an ABI the kernel refuses out of the filter. The difference a program can see: such a call
 * fails with ENOSYS from the kernel under Docker's filter, and ends the process with SIGSYS
 * under hull's (runc's filter kills calls of an architecture it was not given). A call the
 * kernel can run is allowed or refused exactly as Docker's profile says.
 */
import { arch } from 'node:os';
import { nativeAddon } from '../../util/native.js';

let probed = false;
let cached: ReadonlySet<string> | undefined;

/** SCMP_ARCH_* names; undefined where hull does not probe (hosts other than x86_64): the profile's full list stays. */
export function kernelSeccompArches(): ReadonlySet<string> | undefined {
  if (!probed) {
    cached = probe();
    probed = true;
  }
  return cached;
}

function probe(): ReadonlySet<string> | undefined {
  if (arch() !== 'x64') return undefined;
  const abis = nativeAddon().kernelAbis();
  const set = new Set(['SCMP_ARCH_X86_64']);
  if (abis.ia32) set.add('SCMP_ARCH_X86');
  if (abis.x32) set.add('SCMP_ARCH_X32');
  return set;
}
