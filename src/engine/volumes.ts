/**
 * Volume policy: what `volume ls` filters mean, that `volume rm` refuses a volume any
 * container (running or not) uses, and which volumes `volume prune` may take (Docker 23+:
 * anonymous ones only, unless `all`). Storage is volume/store.ts.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HullError, isHullError } from '../util/errors.js';
import type { VolumeDoc } from '../volume/model.js';
import type { CreateVolumeOptions, VolumeStore } from '../volume/store.js';
import type { ContainerService } from './containers.js';

export interface VolumeFilters {
  dangling?: boolean;
  name?: string[];
  label?: string[];
  driver?: string[];
}

const VOLUME_FILTER_KEYS = ['dangling', 'name', 'label', 'driver'];

/** `--filter k=v` flags → filters, with Docker's errors for unknown keys and bad values. */
export function parseVolumeFilters(list: readonly string[], allowed = VOLUME_FILTER_KEYS): VolumeFilters {
  const f: VolumeFilters = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i <= 0) throw new HullError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${item}`);
    const key = item.slice(0, i);
    const v = item.slice(i + 1);
    if (!allowed.includes(key)) throw new HullError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    if (key === 'dangling') {
      if (!['true', 'false', '1', '0'].includes(v)) throw new HullError('INVALID_ARGUMENT', `invalid filter 'dangling=${v}'`);
      f.dangling = v === 'true' || v === '1';
    } else {
      const k = key as 'name' | 'label' | 'driver';
      f[k] = [...(f[k] ?? []), v];
    }
  }
  return f;
}

function labelMatches(labels: Record<string, string>, want: string): boolean {
  const j = want.indexOf('=');
  return j === -1 ? want in labels : labels[want.slice(0, j)] === want.slice(j + 1);
}

/** Bytes below a directory (regular files' sizes), best effort. */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) total += await treeSize(p);
    else if (st.isFile()) total += st.size;
  }
  return total;
}

export class VolumeService {
  constructor(private readonly containers: ContainerService) {}

  private get store(): VolumeStore {
    return this.containers.volumes;
  }

  async create(name: string | undefined, opts: CreateVolumeOptions): Promise<VolumeDoc> {
    return (await this.store.create(name, opts)).doc;
  }

  inspect(name: string): VolumeDoc {
    return this.store.get(name);
  }

  find(name: string): VolumeDoc | undefined {
    return this.store.find(name);
  }

  /** Names of volumes some container uses, from one pass over the containers. */
  private usedNames(): Set<string> {
    const used = new Set<string>();
    for (const r of this.containers.records.list()) {
      const doc = JSON.parse(r.config) as { MountPoints?: { Type: string; Name?: string }[] };
      for (const m of doc.MountPoints ?? []) if (m.Type === 'volume' && m.Name) used.add(m.Name);
    }
    return used;
  }

  list(filters: VolumeFilters = {}): VolumeDoc[] {
    const used = filters.dangling !== undefined ? this.usedNames() : undefined;
    return this.store.list().filter(
      (v) =>
        (used === undefined || used.has(v.Name) !== filters.dangling) &&
        (filters.name ?? []).every((n) => v.Name.includes(n) || safeRegex(n)?.test(v.Name)) &&
        (filters.label ?? []).every((l) => labelMatches(v.Labels, l)) &&
        (filters.driver === undefined || filters.driver.includes(v.Driver)),
    );
  }

  /** Refused while any container uses it (Docker lists their ids); `force` ignores a missing one. */
  async remove(name: string, force = false): Promise<void> {
    if (!this.store.find(name)) {
      if (force) return;
      throw new HullError('NOT_FOUND', `get ${name}: no such volume`);
    }
    const users = this.containers.volumeUsers(name);
    if (users.length > 0) throw new HullError('CONFLICT', `remove ${name}: volume is in use - [${users.map((c) => c.id).join(', ')}]`);
    try {
      await this.store.remove(name);
    } catch (e) {
      if (!(force && isHullError(e, 'NOT_FOUND'))) throw e;
    }
  }

  /** Unused volumes: anonymous ones, or all with `all`; label filters narrow it. */
  async prune(opts: { all?: boolean; filters?: VolumeFilters } = {}): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const used = this.usedNames();
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.store.list()) {
      if (used.has(v.Name)) continue;
      if (!opts.all && !this.store.isAnonymous(v)) continue;
      if (!(opts.filters?.label ?? []).every((l) => labelMatches(v.Labels, l))) continue;
      const size = await treeSize(v.Mountpoint);
      try {
        await this.remove(v.Name);
      } catch (e) {
        // Taken into use (or removed) by someone else meanwhile: not ours to prune.
        if (isHullError(e, 'CONFLICT') || isHullError(e, 'NOT_FOUND')) continue;
        throw e;
      }
      deleted.push(v.Name);
      space += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }
}

function safeRegex(s: string): RegExp | undefined {
  try {
    return new RegExp(s);
  } catch {
    return undefined;
  }
}
