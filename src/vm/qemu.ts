/**
 * The QEMU and virtiofsd command lines of a hull VM, and the settings the engine hands the VM
 * runtime in the bundle's vm.json.
 */
import { join } from 'node:path';

/** Written by the engine next to config.json; read by the VM runtime. */
export interface VmSettings {
  kernel: string;
  initrd: string;
  accel: 'kvm' | 'tcg';
  cpus: number;
  memoryMiB: number;
  /** The guest's serial console (kernel messages): where a failed boot is diagnosed. */
  consoleLog: string;
  /** `runtime start` fails, and the VM is killed, if the workload has not started by then. */
  bootTimeoutSeconds: number;
  /** `-i`: the guest's stdin is the container's stdin; otherwise /dev/null inside the guest. */
  stdin: boolean;
}

export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
/** Under TCG on a loaded 2-core host a boot takes 5-15 s; a hang is caught well after that. */
export const DEFAULT_BOOT_TIMEOUT_SECONDS = 90;

export const QEMU_BINARY = 'qemu-system-x86_64';
export const VIRTIOFSD_BINARY = '/usr/lib/qemu/virtiofsd';

/** File names inside the runtime's per-VM directory (the QEMU and virtiofsd cwd). */
export const VM_FILES = {
  qmp: 'qmp.sock',
  virtiofs: 'vfsd.sock',
  /** Host → guest (config, then signals): a FIFO QEMU's pipe chardev reads (`ctl.in`). */
  ctlIn: 'ctl.in',
  /** Guest → host (started, error, exit status): a file QEMU's pipe chardev writes. */
  ctlOut: 'ctl.out',
  qemuPid: 'qemu.pid',
  virtiofsdPid: 'virtiofsd.pid',
  qemuLog: 'qemu.log',
  /** Present from create until start, as runc's exec.fifo: the engine reads it as "created". */
  created: 'exec.fifo',
} as const;

/** The guest kernel's command line. `panic=-1` reboots at once on a panic, and -no-reboot turns that into QEMU's exit. */
export function kernelCmdline(extra: string[] = []): string {
  return ['console=ttyS0', 'quiet', 'panic=-1', 'reboot=t', 'tsc=reliable', ...extra].join(' ');
}

/**
 * QEMU's arguments, run with the VM directory as cwd (so the unix sockets have short relative
 * paths), with the container's stdout and stderr on fds 3 and 4 and its stdin (-i) on fd 5.
 *
 * q35 rather than microvm: under TCG the Debian cloud kernel hangs in TSC calibration on microvm
 * (no PIT/HPET reference), and microvm's virtio-mmio devices need a kernel with
 * VIRTIO_MMIO_CMDLINE_DEVICES or ACPI discovery; q35's virtio-pci needs neither.
 */
export function qemuArgs(s: VmSettings, opts: { paused: boolean; probe?: boolean }): string[] {
  const mem = `${s.memoryMiB}M`;
  const args = [
    '-M', `q35,accel=${s.accel},memory-backend=mem`,
    '-cpu', s.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(s.cpus),
    '-m', mem,
    // virtio-fs needs guest RAM shared with virtiofsd.
    '-object', `memory-backend-memfd,id=mem,size=${mem},share=on`,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', s.kernel, '-initrd', s.initrd,
    '-append', kernelCmdline(opts.probe ? ['hull.probe=1'] : []),
    '-chardev', `file,id=con,path=${s.consoleLog}`, '-serial', 'chardev:con',
  ];
  if (opts.probe) return args;
  args.push(
    '-qmp', `unix:${VM_FILES.qmp},server=on,wait=off`,
    '-device', 'virtio-serial-pci,max_ports=8',
    '-chardev', 'file,id=out,path=/dev/fd/3', '-device', 'virtserialport,chardev=out,name=hull.stdout',
    '-chardev', 'file,id=err,path=/dev/fd/4', '-device', 'virtserialport,chardev=err,name=hull.stderr',
    // pipe opens ctl.in and ctl.out read-write: the FIFO never reaches EOF and never blocks.
    '-chardev', 'pipe,id=ctl,path=ctl', '-device', 'virtserialport,chardev=ctl,name=hull.ctl',
    '-chardev', `socket,id=vfs,path=${VM_FILES.virtiofs}`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=hullroot',
  );
  // fd 5: the container's stdin, a connected socket (the monitor's --stdin-socket): a socket
  // chardev reports its EOF to the guest as the port closing, a file or stdio chardev does not.
  if (s.stdin) args.push('-chardev', 'socket,id=in,fd=5', '-device', 'virtserialport,chardev=in,name=hull.stdin');
  if (opts.paused) args.push('-S');
  return args;
}

/**
 * virtiofsd locks a pid file named after its socket path (/run/virtiofsd/<path, / → .>.pid), so
 * the bare relative name would make every VM's virtiofsd fight over one lock ("Cannot lock pid
 * file") when two start at once. `../<id>/vfsd.sock` from the VM directory is the same socket,
 * still short, and unique per VM.
 */
export function virtiofsdSocketArg(id: string): string {
  return `../${id}/${VM_FILES.virtiofs}`;
}

export function virtiofsdArgs(rootfs: string, socketPath: string = VM_FILES.virtiofs): string[] {
  // chroot sandbox: hull already runs as root on the host; the namespace sandbox costs a clone
  // of three namespaces per VM for no gain here. xattr: the overlay root carries capabilities.
  return [`--socket-path=${socketPath}`, '-o', `source=${rootfs}`, '-o', 'cache=auto', '-o', 'sandbox=chroot', '-o', 'xattr', '-o', 'log_level=err'];
}

export function vmDir(runtimeRoot: string, id: string): string {
  return join(runtimeRoot, id);
}
