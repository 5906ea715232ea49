/**
 * Content-addressed blob store: `<root>/blobs/sha256/<hex>`.
 *
 * A blob only ever appears under its final name after its bytes were hashed while being
 * written, the hash matched, and the file was fsynced: the rename is the commit. So a crash or
 * a full disk mid-write leaves at most a stray temp file in `blobs/ingest/` (swept on open),
 * never a blob a later command would trust.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, type ReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';
import { pidTempName, sweepDeadPidEntries } from '../util/fs.js';
import { digestHex, type Digest } from './digest.js';

export class BlobStore {
  readonly dir: string;
  private readonly ingestDir: string;

  constructor(root: string) {
    this.dir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'blobs', 'ingest');
  }

  async init(): Promise<void> {
    // Synchronous, like the sweep: two no-op mkdirs on every command's start.
    mkdirSync(this.dir, { recursive: true });
    mkdirSync(this.ingestDir, { recursive: true });
    // Ingest files of a process that died mid-write are garbage, never blobs.
    await sweepDeadPidEntries(this.ingestDir);
  }

  path(digest: Digest): string {
    return join(this.dir, digestHex(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  async size(digest: Digest): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  read(digest: Digest): ReadStream {
    return createReadStream(this.path(digest));
  }

  async readBuffer(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (e) {
      throw new HullError('NOT_FOUND', `blob ${digest} is missing from the store`, { cause: e });
    }
  }

  /** Store a small blob held in memory (manifests, configs); returns its digest. */
  async put(data: Buffer, expected?: Digest): Promise<Digest> {
    const w = await this.writer(expected);
    try {
      await w.write(data);
      return await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }

  async writer(expected?: Digest, expectedSize?: number): Promise<BlobWriter> {
    const tmp = join(this.ingestDir, pidTempName());
    const fh = await open(tmp, 'w', 0o644);
    return new BlobWriter(this, fh, tmp, expected, expectedSize);
  }

  deleteSync(digest: Digest): void {
    rmSync(this.path(digest), { force: true });
  }

  async list(): Promise<Digest[]> {
    const names = await readdir(this.dir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }


  /** Used by BlobWriter.commit: move a verified temp file into place. */
  async adopt(tmp: string, digest: Digest): Promise<void> {
    await rename(tmp, this.path(digest));
  }
}

/**
 * Streams bytes into a temp file while hashing them. `commit` verifies the digest (and size)
 * before the blob becomes visible; `abort` removes the temp file. `offset` tells a resuming
 * downloader how many bytes are already safely written.
 */
export class BlobWriter {
  private readonly hash: Hash = createHash('sha256');
  private written = 0;
  private done = false;
  private actual: Digest | undefined;

  constructor(
    private readonly store: BlobStore,
    private readonly fh: FileHandle,
    /** The temp file being written (removed by commit or abort; a caller that outlives a dead writer removes it). */
    readonly tmp: string,
    private readonly expected?: Digest,
    private readonly expectedSize?: number,
  ) {}

  get offset(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, pos, chunk.length - pos);
      pos += bytesWritten;
    }
    this.hash.update(chunk);
    this.written += chunk.length;
    if (this.expectedSize !== undefined && this.written > this.expectedSize) {
      throw new HullError('DIGEST_MISMATCH', `blob ${this.expected ?? ''} is larger than the ${this.expectedSize} bytes its descriptor declares`);
    }
  }

  /**
   * Check the bytes written so far against the expected digest and size; returns the digest.
   * Callers that must tell a corrupt download from a bad layer ask this first.
   */
  verify(): Digest {
    this.actual ??= `sha256:${this.hash.digest('hex')}` as Digest;
    const actual = this.actual;
    if (this.expected !== undefined && actual !== this.expected) {
      throw new HullError('DIGEST_MISMATCH', `digest mismatch: expected ${this.expected}, got ${actual}; nothing was stored`);
    }
    if (this.expectedSize !== undefined && this.written !== this.expectedSize) {
      throw new HullError('DIGEST_MISMATCH', `size mismatch for ${actual}: expected ${this.expectedSize} bytes, got ${this.written}; nothing was stored`);
    }
    return actual;
  }

  /** Verify, fsync and publish. Returns the blob's digest. */
  async commit(): Promise<Digest> {
    this.done = true;
    try {
      const actual = this.verify();
      await this.fh.sync();
      await this.fh.close();
      await this.store.adopt(this.tmp, actual);
      return actual;
    } catch (e) {
      await this.fh.close().catch(() => undefined);
      await rm(this.tmp, { force: true });
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}
