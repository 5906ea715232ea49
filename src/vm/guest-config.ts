/**
 * The workload description the guest init reads from hull.ctl (format in
 * native/vm/hull-vm-init.c): taken from the OCI config.json the engine wrote for the bundle
 * (args, env, cwd, user, hostname: the same process a runc container would run) and the
 * /etc/hosts, resolv.conf and hostname files written next to it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmSettings } from './qemu.js';

interface OciProcess {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: { uid?: number; gid?: number; additionalGids?: number[] };
}

/** HOME from the image's passwd, as runc adds it when the env has none. */
export function homeOf(rootfs: string, uid: number): string {
  try {
    for (const line of readFileSync(join(rootfs, 'etc', 'passwd'), 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && Number(f[2]) === uid && f[5]) return f[5];
    }
  } catch {
    // no passwd in the image
  }
  return '/';
}

/** `extra`: the network and mount fields (vm/network.ts, vm/mounts.ts). */
export function guestConfig(bundle: string, settings: VmSettings, extra: string[] = []): Buffer {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: OciProcess; hostname?: string };
  const proc = spec.process;
  const uid = proc.user?.uid ?? 0;
  const env = proc.env ?? [];
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${homeOf(join(bundle, 'rootfs'), uid)}`);
  const fields: string[] = [
    ...proc.args.map((a) => `a${a}`),
    ...env.map((e) => `e${e}`),
    `c${proc.cwd ?? '/'}`,
    `u${uid}`,
    `g${proc.user?.gid ?? 0}`,
    ...(proc.user?.additionalGids ?? []).map((g) => `G${g}`),
    `i${settings.stdin ? 1 : 0}`,
    `t${settings.tty ? 1 : 0}`,
  ];
  if (spec.hostname) fields.push(`h${spec.hostname}`);
  for (const [key, file] of [['H', 'hosts'], ['R', 'resolv.conf'], ['n', 'hostname']] as const) {
    const path = join(bundle, file);
    if (existsSync(path)) fields.push(`${key}${readFileSync(path, 'utf8')}`);
  }
  fields.push(...extra);
  return Buffer.concat(fields.map((f) => Buffer.from(`${f}\0`)));
}
