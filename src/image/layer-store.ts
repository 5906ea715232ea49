/**
 * Unpacked layers: `<root>/layers/sha256/<diff id hex>/` — each a complete overlayfs lower
 * directory (whiteouts as 0/0 char devices, opaque dirs as trusted.overlay.opaque=y).
 *
 * Layers are keyed by diff id, not chain id: with overlayfs a layer directory does not depend on
 * its parents, so identical layers in different images share one directory.
 *
 * A layer is unpacked into `layers/tmp/<pid>-…` and renamed into place only once its diff id is
 * verified; a concurrent unpack of the same layer by another process simply loses the rename.
 */
import { mkdirSync, renameSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pidTempName, sweepDeadPidEntries } from '../util/fs.js';
import { digestHex, type Digest } from './digest.js';

export interface PendingLayer {
  dir: string;
  /** Move the verified tree into place; false if another process committed the same layer first. */
  commit(diffId: Digest): Promise<boolean>;
  abort(): Promise<void>;
}

export class LayerStore {
  readonly dir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.dir = join(root, 'layers', 'sha256');
    this.tmpDir = join(root, 'layers', 'tmp');
  }

  async init(): Promise<void> {
    // Synchronous, like the sweep: two no-op mkdirs on every command's start.
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    await sweepDeadPidEntries(this.tmpDir);
  }

  path(diffId: Digest): string {
    return join(this.dir, digestHex(diffId));
  }

  async has(diffId: Digest): Promise<boolean> {
    try {
      return (await stat(this.path(diffId))).isDirectory();
    } catch {
      return false;
    }
  }

  async begin(): Promise<PendingLayer> {
    const dir = join(this.tmpDir, pidTempName());
    await mkdir(dir, { mode: 0o755 });
    return {
      dir,
      commit: async (diffId) => {
        try {
          await rename(dir, this.path(diffId));
          return true;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
          await rm(dir, { recursive: true, force: true });
          return false;
        }
      },
      abort: () => rm(dir, { recursive: true, force: true }),
    };
  }

  /**
   * Move a layer out of place (synchronously, so it can happen inside the metadata transaction
   * that forgets it); returns the trash path to remove later, or undefined if it was not there.
   * The rename makes the removal atomic: a half-deleted tree is never mistaken for a layer.
   */
  retire(diffId: Digest): string | undefined {
    const trash = join(this.tmpDir, pidTempName());
    try {
      renameSync(this.path(diffId), trash);
      return trash;
    } catch {
      return undefined;
    }
  }
}
