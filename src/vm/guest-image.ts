/**
 * The guest's kernel and initramfs. The kernel is found (HULL_VM_KERNEL, else the newest
 * /boot/vmlinuz-* whose modules are installed, Debian's linux-image-cloud-amd64 preferred); the
 * initramfs is built by hull: its guest init (build/hull-vm-init, static) plus the kernel
 * modules that kernel needs for virtio (Debian kernels build them as modules), in dependency
 * order. It is cached under the hull root, keyed by a hash of its inputs, so it is rebuilt only
 * when the kernel, its modules or the init change.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HullError } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';

/** The modules the guest needs: virtio over PCI, the serial ports for stdio, virtio-fs for the root, virtio-net. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_console', 'virtiofs', 'virtio_net'];

export interface GuestKernel {
  path: string;
  /** `uname -r` of the kernel: its modules live in /lib/modules/<version>. */
  version: string;
}

/**
 * The `uname -r` a bzImage will report: the boot protocol header (at 0x202, "HdrS") points at
 * the kernel's version string (0x20E: its offset - 0x200). Undefined for anything else.
 */
export function bzImageVersion(image: Buffer): string | undefined {
  if (image.length < 0x210 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const at = image.readUInt16LE(0x20e) + 0x200;
  if (at >= image.length) return undefined;
  const end = image.indexOf(0, at);
  const version = image.toString('latin1', at, end < 0 ? undefined : end).split(' ')[0];
  return version && /^[\w.+~-]+$/.test(version) ? version : undefined;
}

/** A kernel given by path (--kernel, HULL_VM_KERNEL): a bzImage whose modules are installed. */
function kernelAt(path: string, flag: string): GuestKernel {
  let head: Buffer;
  try {
    const fd = openSync(path, 'r');
    head = Buffer.alloc(64 * 1024);
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    closeSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new HullError('INVALID_ARGUMENT', `invalid ${flag} ${path}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  const version = bzImageVersion(head);
  if (!version) throw new HullError('INVALID_ARGUMENT', `invalid ${flag} ${path}: not a Linux kernel image (bzImage)`);
  if (!existsSync(join('/lib/modules', version, 'modules.dep'))) {
    throw new HullError('INVALID_ARGUMENT', `invalid ${flag} ${path}: kernel ${version} has no modules in /lib/modules/${version} (hull's initramfs takes its virtio modules from there)`);
  }
  return { path, version };
}

/** `path` (--kernel), else the kernel named by HULL_VM_KERNEL, else the newest installed one with modules. */
export function findKernel(path?: string, override = process.env.HULL_VM_KERNEL): GuestKernel {
  if (path) return kernelAt(path, '--kernel');
  if (override) return kernelAt(override, 'HULL_VM_KERNEL');
  const found = existsSync('/boot') ? readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')) : [];
  const usable = found.map((f) => f.slice('vmlinuz-'.length)).filter((v) => existsSync(join('/lib/modules', v, 'modules.dep')));
  // Cloud kernels first (small, virtio-only driver set), then the newest.
  usable.sort((a, b) => Number(b.includes('cloud')) - Number(a.includes('cloud')) || b.localeCompare(a, undefined, { numeric: true }));
  const version = usable[0];
  if (!version) {
    throw new HullError('INVALID_ARGUMENT', 'no guest kernel found for --isolation vm: install one (apt-get install linux-image-cloud-amd64) or set HULL_VM_KERNEL');
  }
  return { path: join('/boot', `vmlinuz-${version}`), version };
}

/** modules.dep parsed: module name → its file and the files it needs (relative to the modules dir). */
function moduleDeps(version: string): Map<string, { file: string; deps: string[] }> {
  const dir = join('/lib/modules', version);
  const map = new Map<string, { file: string; deps: string[] }>();
  for (const line of readFileSync(join(dir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon);
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    map.set(basename(file).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_'), { file, deps });
  }
  return map;
}

/**
 * The module files to load, dependencies first. A module built into the kernel is absent from
 * modules.dep and needs nothing (modules.builtin lists it).
 */
export function moduleFiles(version: string, wanted = GUEST_MODULES): string[] {
  const deps = moduleDeps(version);
  const builtinPath = join('/lib/modules', version, 'modules.builtin');
  const builtin = existsSync(builtinPath) ? readFileSync(builtinPath, 'utf8') : '';
  const order: string[] = [];
  const byFile = new Map([...deps.values()].map((d) => [d.file, d]));
  const visit = (file: string): void => {
    if (order.includes(file)) return;
    for (const d of byFile.get(file)?.deps ?? []) visit(d);
    order.push(file);
  };
  for (const name of wanted) {
    const m = deps.get(name);
    if (m) visit(m.file);
    else if (!new RegExp(`/${name.replace(/_/g, '[_-]')}\\.ko`).test(builtin)) {
      throw new HullError('INVALID_ARGUMENT', `guest kernel ${version} has no ${name} module: the VM needs virtio (PCI, console) and virtio-fs`);
    }
  }
  for (const f of order) {
    if (!f.endsWith('.ko')) throw new HullError('INVALID_ARGUMENT', `guest kernel module ${f} is compressed; hull loads only uncompressed modules`);
  }
  return order;
}

export function guestInitPath(): string {
  return join(packageRoot(), 'build', 'hull-vm-init');
}

/** One newc entry (the format the kernel unpacks an initramfs from). */
function cpioEntry(name: string, mode: number, data: Buffer, ino: number): Buffer {
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  const nameBuf = Buffer.from(`${name}\0`);
  const header =
    '070701' + hex(ino) + hex(mode) + hex(0) + hex(0) + hex(1) + hex(0) + hex(data.length) + hex(0) + hex(0) + hex(0) + hex(0) + hex(nameBuf.length) + hex(0);
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.concat([Buffer.from(header, 'ascii'), nameBuf]);
  return Buffer.concat([head, pad4(head.length), data, pad4(data.length)]);
}

export function buildCpio(files: { name: string; mode: number; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  let ino = 1;
  for (const f of files) {
    const segs = f.name.split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(cpioEntry(d, 0o40755, Buffer.alloc(0), ino++));
      }
    }
    parts.push(cpioEntry(f.name, f.mode, f.data, ino++));
  }
  parts.push(cpioEntry('TRAILER!!!', 0, Buffer.alloc(0), 0));
  return Buffer.concat(parts);
}

/**
 * The initramfs for `kernel`, built once per set of inputs into `<cacheDir>/initramfs-<hash>.cpio`.
 * Uncompressed on purpose: decompression is the slowest part of unpacking under TCG, and the
 * archive is small (init + a few modules, ~1.5 MiB).
 */
export async function guestInitramfs(cacheDir: string, kernel: GuestKernel): Promise<string> {
  const init = guestInitPath();
  if (!existsSync(init)) throw new HullError('INTERNAL', `the VM guest init ${init} is not built: run npm run build:monitor`);
  const modules = moduleFiles(kernel.version);
  const modDir = join('/lib/modules', kernel.version);
  const hash = createHash('sha256');
  hash.update(readFileSync(init));
  for (const m of modules) {
    const st = statSync(join(modDir, m));
    hash.update(`${m}\0${st.size}\0${st.mtimeMs}\0`);
  }
  const path = join(cacheDir, `initramfs-${hash.digest('hex').slice(0, 16)}.cpio`);
  if (existsSync(path)) return path;
  const files = [
    { name: 'init', mode: 0o100755, data: readFileSync(init) },
    ...modules.map((m) => ({ name: `lib/modules/${basename(m)}`, mode: 0o100644, data: readFileSync(join(modDir, m)) })),
    { name: 'modules.order', mode: 0o100644, data: Buffer.from(modules.map((m) => `/lib/modules/${basename(m)}\n`).join('')) },
  ];
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, buildCpio(files));
  await rename(tmp, path);
  return path;
}
