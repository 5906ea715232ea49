/**
 * Content digests of build-context files, remembered across builds by the file's identity and
 * stat (device, inode, size, mtime and ctime in ns), as BuildKit's content cache does: an
 * unchanged rebuild stats its COPY sources instead of reading them. Any write, chmod, chown,
 * rename over the file or replacement changes ctime (or the inode), so a stale entry is never
 * used. A file changed within the timestamp granularity of its hashing could keep its stat,
 * so digests of files whose ctime is recent are used but not remembered (git's "racy" rule).
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, type BigIntStats } from 'node:fs';
import type { Db } from '../state/db.js';

/** Files changed less than this long before hashing are not remembered. */
const RACY_NS = 2_000_000_000n;
/** Files up to this size are read in one call; bigger ones are streamed. */
const READ_WHOLE = 8 << 20;

function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export async function hashFile(abs: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= READ_WHOLE) h.update(readFileSync(abs));
  else for await (const chunk of createReadStream(abs)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export class FileDigests {
  private readonly fresh: { path: string; stat: string; digest: string }[] = [];
  hits = 0;
  misses = 0;

  /**
   * `db` undefined: nothing is remembered (a tar context, unpacked anew each build).
   * `racyNs`: how recently changed a file may be and still be remembered (tests shrink it).
   */
  constructor(
    private readonly db: Db | undefined,
    private readonly racyNs = RACY_NS,
  ) {}

  /** The sha256 (hex) of the regular file `abs`, whose lstat (bigint) is `st`. */
  async digest(abs: string, st: BigIntStats): Promise<string> {
    const key = statKey(st);
    if (this.db) {
      const row = this.db.prepare('SELECT stat, digest FROM build_file_digests WHERE path = ?').get(abs) as { stat: string; digest: string } | undefined;
      if (row?.stat === key) {
        this.hits++;
        return row.digest;
      }
    }
    this.misses++;
    const digest = await hashFile(abs, Number(st.size));
    const now = BigInt(Date.now()) * 1_000_000n;
    if (this.db && now - st.ctimeNs >= this.racyNs && now - st.mtimeNs >= this.racyNs) this.fresh.push({ path: abs, stat: key, digest });
    return digest;
  }

  /** Remembers the digests computed since the last save, in one transaction. */
  save(): void {
    if (!this.db || this.fresh.length === 0) return;
    const stmt = this.db.prepare('INSERT INTO build_file_digests (path, stat, digest) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE SET stat = excluded.stat, digest = excluded.digest');
    const rows = this.fresh.splice(0);
    this.db.transaction(() => {
      for (const r of rows) stmt.run(r.path, r.stat, r.digest);
    })();
  }
}
