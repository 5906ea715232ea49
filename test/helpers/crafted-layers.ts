/**
 * Hostile layers that buildOciLayout cannot express (it normalises paths and link names):
 * tar entries written exactly as given with tar-stream, wrapped in a one-image OCI layout that
 * skopeo pushes unchanged.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import type { Header } from 'tar-stream';
import { sha256Of } from '../../src/image/digest.js';
import type { Digest } from '../../src/image/digest.js';
import { FIXED_MTIME, MEDIA_TYPES } from './images.js';

const execFileP = promisify(execFile);

/** One raw tar entry: the header as written, and the content of a regular file. */
export interface RawEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string;
}

export interface CraftedImage {
  manifestDigest: Digest;
  configDigest: Digest;
  diffId: Digest;
  blobDigest: Digest;
}

export async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header: Partial<Header> & Pick<Header, 'name'> = { name: e.name, type: e.type, mode: e.type === 'directory' ? 0o755 : 0o644, mtime: FIXED_MTIME, uid: 0, gid: 0 };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry(header, Buffer.from(e.content ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function writeBlob(blobs: string, data: Buffer): Promise<{ digest: Digest; size: number }> {
  const digest = sha256Of(data);
  await writeFile(join(blobs, digest.slice('sha256:'.length)), data);
  return { digest, size: data.length };
}

/** Writes a one-layer OCI image layout whose layer is `entries`, gzipped. */
export async function craftedLayout(dir: string, entries: RawEntry[]): Promise<CraftedImage> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tar = await rawTar(entries);
  const diffId = sha256Of(tar);
  const layer = await writeBlob(blobs, gzipSync(tar));
  const config = await writeBlob(
    blobs,
    Buffer.from(
      JSON.stringify({
        created: FIXED_MTIME.toISOString(),
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: FIXED_MTIME.toISOString(), created_by: 'hull-test: crafted layer' }],
      }),
    ),
  );
  const manifest = await writeBlob(
    blobs,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, ...config },
        layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, ...layer }],
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, ...manifest, platform: { architecture: 'amd64', os: 'linux' } }],
    }),
  );
  return { manifestDigest: manifest.digest, configDigest: config.digest, diffId, blobDigest: layer.digest };
}

/**
 * skopeo copy with registry credentials (pushWithSkopeo has none). Layers are copied as they
 * are: skopeo only recompresses when asked to.
 */
export async function skopeoCopyWithCreds(layoutDir: string, destRef: string, creds: { user: string; pass: string }): Promise<void> {
  await execFileP(
    'skopeo',
    ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${creds.user}:${creds.pass}`, `oci:${layoutDir}`, `docker://${destRef}`],
    { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 },
  );
}
