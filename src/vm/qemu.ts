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
  /** -t: the guest's workload gets a pty, relayed over the hull.tty port to the host pty on fd 6. */
  tty?: boolean;
}

export const DEFAULT_CPUS = 1;
/** hull.execN ports per VM: how many execs can run in it at once (vm/exec.ts). */
export const EXEC_SLOTS = 8;
export const DEFAULT_MEMORY_MIB = 512;
/** Under TCG on a loaded 2-core host a boot takes 5-15 s; a hang is caught well after that. */
export const DEFAULT_BOOT_TIMEOUT_SECONDS = 90;

export const QEMU_BINARY = 'qemu-system-x86_64';
export const VIRTIOFSD_BINARY = '/usr/lib/qemu/virtiofsd';

/** The pid file of a volume's virtiofsd is its tag (vm/mounts.ts) with this suffix. */
export const VIRTIOFSD_PID_SUFFIX = '.virtiofsd.pid';

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

/**
 * The guest kernel's command line. `panic=-1` reboots at once on a panic, and -no-reboot turns
 * that into QEMU's exit. `loglevel=5` rather than `quiet`: warnings, panics and the guest init's
 * boot stages reach the console log (two kernel lines on a normal TCG boot). `no_timer_check`:
 * the kernel's check that the IO-APIC timer ticks fails when the host starves the vCPU (TCG on
 * loaded shared cores), and that failure is a panic at boot ("IO-APIC + timer doesn't work!").
 */
export function kernelCmdline(extra: string[] = []): string {
  return ['console=ttyS0', 'loglevel=5', 'panic=-1', 'reboot=t', 'tsc=reliable', 'no_timer_check', ...extra].join(' ');
}

/**
 * QEMU's arguments, run with the VM directory as cwd (so the unix sockets have short relative
 * paths), with the container's stdout and stderr on fds 3 and 4 and its stdin (-i) on fd 5.
 *
 * q35 rather than microvm: under TCG the Debian cloud kernel hangs in TSC calibration on microvm
 * (no PIT/HPET reference), and microvm's virtio-mmio devices need a kernel with
 * VIRTIO_MMIO_CMDLINE_DEVICES or ACPI discovery; q35's virtio-pci needs neither.
 */
export function qemuArgs(s: VmSettings, opts: { paused: boolean; probe?: boolean | 'root' }): string[] {
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
    '-append', kernelCmdline(opts.probe === 'root' ? ['hull.probe=root'] : opts.probe ? ['hull.probe=1'] : []),
    '-chardev', `file,id=con,path=${s.consoleLog}`, '-serial', 'chardev:con',
  ];
  // bench/vm.ts's floor: the root share (a virtiofsd on VM_FILES.virtiofs), mounted, then off.
  if (opts.probe === 'root') args.push('-chardev', `socket,id=vfs,path=${VM_FILES.virtiofs}`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=hullroot');
  if (opts.probe) return args;
  args.push(
    '-qmp', `unix:${VM_FILES.qmp},server=on,wait=off`,
    // 5 ports of the workload's (stdout, stderr, ctl, stdin, tty) and the exec slots.
    '-device', `virtio-serial-pci,max_ports=${5 + EXEC_SLOTS}`,
    '-chardev', 'file,id=out,path=/dev/fd/3', '-device', 'virtserialport,chardev=out,name=hull.stdout',
    '-chardev', 'file,id=err,path=/dev/fd/4', '-device', 'virtserialport,chardev=err,name=hull.stderr',
    // pipe opens ctl.in and ctl.out read-write: the FIFO never reaches EOF and never blocks.
    '-chardev', 'pipe,id=ctl,path=ctl', '-device', 'virtserialport,chardev=ctl,name=hull.ctl',
    '-chardev', `socket,id=vfs,path=${VM_FILES.virtiofs}`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=hullroot',
  );
  // fd 5: the container's stdin, a connected socket (the monitor's --stdin-socket): a socket
  // chardev reports its EOF to the guest as the port closing, a file or stdio chardev does not.
  // fd 6 (-t): the slave of the pty whose master the monitor got over the console socket.
  if (s.tty) args.push('-chardev', 'serial,id=tty,path=/dev/fd/6', '-device', 'virtserialport,chardev=tty,name=hull.tty');
  if (s.stdin) args.push('-chardev', 'socket,id=in,fd=5', '-device', 'virtserialport,chardev=in,name=hull.stdin');
  // `hull exec` (vm/exec.ts): a listening socket per slot, served by the guest on "exec N".
  for (let n = 0; n < EXEC_SLOTS; n++) args.push('-chardev', `socket,id=exec${n},path=exec${n}.sock,server=on,wait=off`, '-device', `virtserialport,chardev=exec${n},name=hull.exec${n}`);
  if (opts.paused) args.push('-S');
  return args;
}

/**
 * virtiofsd serving `source` on `socket` (relative to the VM directory). `readonly`: QEMU 7.2's
 * virtiofsd has no read-only option, so it runs in a mount namespace of its own in which its
 * source is a read-only bind mount of itself: writes fail on the host side whatever the guest
 * does, and the mount goes with the process (`unshare` and `sh` exec, so the pid is virtiofsd's).
 */
export function virtiofsdCommand(source: string, socket: string, readonly = false): string[] {
  const cmd = [VIRTIOFSD_BINARY, ...virtiofsdArgs(source, socket)];
  if (!readonly) return cmd;
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -o bind,ro -- "$0" "$0" && exec "$@"', source, ...cmd];
}

function virtiofsdArgs(source: string, socket: string): string[] {
  // chroot sandbox: hull already runs as root on the host; the namespace sandbox costs a clone
  // of three namespaces per VM for no gain here. xattr: the overlay root carries capabilities.
  return [`--socket-path=${socket}`, '-o', `source=${source}`, '-o', 'cache=auto', '-o', 'sandbox=chroot', '-o', 'xattr', '-o', 'log_level=err'];
}

/**
 * QEMU 7.2's virtiofsd locks a pid file named after its --socket-path string
 * (/run/virtiofsd/<path, / → .>.pid) and leaves it behind. With a bare relative name every VM's
 * virtiofsd would fight over one lock ("Cannot lock pid file") when two start at once, so the
 * socket is named through its VM's directory: `../<id>/<name>` from that directory is the same
 * file, still short (the 107-byte limit), and unique per VM. `delete` removes the pid file
 * (native/vm/hull-vm-runtime.c).
 */
export function virtiofsdSocketArg(id: string, socket: string): string {
  return `../${id}/${socket}`;
}

export function vmDir(runtimeRoot: string, id: string): string {
  return join(runtimeRoot, id);
}
