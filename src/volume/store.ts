/**
 * The local volume driver: a volume is a directory `<root>/volumes/<name>/_data` and a row in
 * SQLite. With driver options (`type`, `device`, `o`, as Docker's local driver takes them) the
 * directory is a mount point: the device is mounted there while containers use it (see
 * prepare and release).
 *
 * Crash safety: the directory is made (idempotently) before the row is written, so a row
 * always has its directory, and two creators of one name both end with the same volume. A
 * removal moves the directory into `volumes/tmp/<pid>-…` before it drops the row, so a crash
 * never leaves old data under a name that a later `create` would adopt; each command sweeps
 * what dead processes left there.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isMounted } from '../container/rootfs.js';
import type { Db } from '../state/db.js';
import { VolumeRecords, type VolumeRow } from '../state/volumes.js';
import { HullError } from '../util/errors.js';
import { pidTempName, sweepDeadPidEntries } from '../util/fs.js';
import { nativeAddon } from '../util/native.js';
import { ANONYMOUS_LABEL, type VolumeDoc } from './model.js';
import { mountLocalVolume } from './local-mount.js';
import { checkVolumeName } from './parse.js';


/** The local driver's options (Docker's validOpts, without the quota-only `size`). */
const LOCAL_OPTIONS = new Set(['type', 'device', 'o']);
const MNT_DETACH = 2;

export interface CreateVolumeOptions {
  driver?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export class VolumeStore {
  readonly records: VolumeRecords;
  private swept = false;

  constructor(
    readonly root: string,
    db: Db,
  ) {
    this.records = new VolumeRecords(db);
  }

  private get base(): string {
    return join(this.root, 'volumes');
  }

  /** The host directory a volume's data lives in (what containers and VMs mount). */
  dataPath(name: string): string {
    return join(this.base, name, '_data');
  }

  private async sweep(): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    await sweepDeadPidEntries(join(this.base, 'tmp'));
  }

  /** Create, or return the existing volume of that name (Docker's create is idempotent). */
  async create(name: string | undefined, opts: CreateVolumeOptions = {}): Promise<{ doc: VolumeDoc; created: boolean }> {
    await this.sweep();
    const driver = opts.driver || 'local';
    if (driver !== 'local') throw new HullError('NOT_FOUND', `error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const volName = name || randomBytes(32).toString('hex');
    checkVolumeName(volName);
    const options = opts.options ?? {};
    for (const k of Object.keys(options)) {
      if (!LOCAL_OPTIONS.has(k)) throw new HullError('INVALID_ARGUMENT', `create ${volName}: invalid option: "${k}"`);
    }
    if (options.device && !options.type) throw new HullError('INVALID_ARGUMENT', `create ${volName}: missing required option: "type"`);
    await mkdir(this.dataPath(volName), { recursive: true, mode: 0o755 });
    const labels = { ...(opts.labels ?? {}), ...(name ? {} : { [ANONYMOUS_LABEL]: '' }) };
    const { row, created } = this.records.insertOrGet({ name: volName, driver, createdAt: new Date().toISOString(), labels, options });
    return { doc: this.view(row), created };
  }

  find(name: string): VolumeDoc | undefined {
    const row = this.records.get(name);
    return row && this.view(row);
  }

  get(name: string): VolumeDoc {
    const v = this.find(name);
    if (!v) throw new HullError('NOT_FOUND', `get ${name}: no such volume`);
    return v;
  }

  list(): VolumeDoc[] {
    return this.records.list().map((r) => this.view(r));
  }

  isAnonymous(v: VolumeDoc): boolean {
    return ANONYMOUS_LABEL in v.Labels;
  }

  /**
   * Ready for container `holder`: the directory exists (a crash may have taken it between a
   * removal's rename and its row delete) and, with driver options, the device is mounted on it
   * and the container recorded as holding it. Hold and mount happen in one IMMEDIATE
   * transaction, which every other start and release of any volume waits for: a release can
   * never unmount between another start's check and its use.
   */
  async prepare(name: string, holder: string): Promise<string> {
    const row = this.records.get(name);
    if (!row) throw new HullError('NOT_FOUND', `get ${name}: no such volume`);
    const data = this.dataPath(name);
    await mkdir(data, { recursive: true, mode: 0o755 });
    if (!row.options.type && !row.options.device) return data;
    this.records.transaction(() => {
      this.records.addHolder(name, holder);
      if (!isMounted(data)) mountLocalVolume(row.options, data);
    });
    return data;
  }

  /** Container `holder` stopped: unmount the devices of volumes nobody else holds any more. */
  release(holder: string): void {
    this.records.transaction(() => {
      for (const name of this.records.dropHolder(holder)) {
        if (this.records.holderCount(name) === 0) unmountQuietly(this.dataPath(name));
      }
    });
  }

  /** Remove the row and the data; the caller has checked that no container uses it. */
  async remove(name: string): Promise<void> {
    await this.sweep();
    if (!this.records.get(name)) throw new HullError('NOT_FOUND', `get ${name}: no such volume`);
    unmountQuietly(this.dataPath(name));
    const trash = join(this.base, 'tmp', pidTempName());
    await mkdir(join(this.base, 'tmp'), { recursive: true, mode: 0o700 });
    try {
      await rename(join(this.base, name), trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.records.delete(name);
    await rm(trash, { recursive: true, force: true });
  }

  /** True when the volume holds nothing (copy-up fills only empty volumes). */
  async isEmpty(name: string): Promise<boolean> {
    try {
      return (await readdir(this.dataPath(name))).length === 0;
    } catch {
      return true;
    }
  }

  private view(r: VolumeRow): VolumeDoc {
    return {
      CreatedAt: r.createdAt.replace(/\.\d+Z$/, 'Z'),
      Driver: r.driver,
      Labels: r.labels,
      Mountpoint: this.dataPath(r.name),
      Name: r.name,
      Options: r.options,
      Scope: 'local',
    };
  }
}

/** Unmount if mounted; a mount still busy is detached (the kernel frees it when let go). */
function unmountQuietly(target: string): void {
  if (!isMounted(target)) return;
  try {
    nativeAddon().umount2(target, 0);
  } catch {
    try {
      nativeAddon().umount2(target, MNT_DETACH);
    } catch {
      // gone meanwhile
    }
  }
}
