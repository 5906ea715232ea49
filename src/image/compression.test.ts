import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isHullError } from '../util/errors.js';
import { compressGzip, decompressStream, detectCompression, sniffingDecompressor } from './compression.js';

/** Compressible but not trivially so: random words, enough to need several pipe buffers. */
const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `${i.toString(36)}-${randomBytes(4).toString('hex')}\n`).join(''));

function zstdOf(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-c', '-q'], { input: data, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

/** Feeds `chunks` through `stream` and collects the output. */
async function through(stream: Duplex, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

/** Splits `data` into `size`-byte chunks, to exercise partial magic numbers and many writes. */
function chunked(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
}

describe('detectCompression', () => {
  it('recognises gzip and zstd by magic number', () => {
    assert.equal(detectCompression(gzipSync('x')), 'gzip');
    assert.equal(detectCompression(zstdOf(Buffer.from('x'))), 'zstd');
    assert.equal(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])), 'zstd');
  });

  it('decompresses zstd that opens with a skippable frame', async () => {
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const zst = Buffer.concat([skippable, zstdOf(payload)]);
    assert.ok((await through(sniffingDecompressor(), [zst])).equals(payload));
  });

  it('calls anything else, including short and empty input, uncompressed', () => {
    assert.equal(detectCompression(Buffer.from('ustar data')), 'none');
    assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f])), 'none');
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
  });
});

describe('decompressStream', () => {
  it('round-trips gzip with compressGzip', async () => {
    const gz = await through(compressGzip(), [payload]);
    assert.equal(detectCompression(gz), 'gzip');
    assert.ok((await through(decompressStream('gzip'), chunked(gz, 4096))).equals(payload));
  });

  it('decompresses zstd through the zstd program, with backpressure', async () => {
    const zst = zstdOf(payload);
    assert.ok((await through(decompressStream('zstd'), chunked(zst, 1000))).equals(payload));
  });

  it('passes uncompressed data through', async () => {
    assert.ok((await through(decompressStream('none'), [payload])).equals(payload));
  });

  it('reports corrupt gzip as ARCHIVE_INVALID', async () => {
    const gz = gzipSync(payload);
    const corrupt = Buffer.concat([gz.subarray(0, 100), Buffer.alloc(100, 0xaa), gz.subarray(200)]);
    await assert.rejects(through(decompressStream('gzip'), [corrupt]), (e) => isHullError(e, 'ARCHIVE_INVALID'));
  });

  it('reports truncated gzip as ARCHIVE_INVALID', async () => {
    const gz = gzipSync(payload);
    await assert.rejects(through(decompressStream('gzip'), [gz.subarray(0, gz.length / 2)]), (e) => isHullError(e, 'ARCHIVE_INVALID'));
  });

  it('leaves errors that are not about the gzip data alone', async () => {
    const failure = new Error('connection reset');
    const source = new Readable({
      read() {
        this.push(gzipSync(payload).subarray(0, 1000));
        this.destroy(failure);
      },
    });
    await assert.rejects(
      pipeline(source, decompressStream('gzip'), async (s: AsyncIterable<Buffer>) => {
        for await (const _ of s);
      }),
      (e) => e === failure,
    );
  });

  it('reports corrupt zstd as ARCHIVE_INVALID with zstd\'s reason', async () => {
    const zst = zstdOf(payload);
    const corrupt = Buffer.concat([zst.subarray(0, 100), Buffer.alloc(100, 0xaa), zst.subarray(200)]);
    await assert.rejects(through(decompressStream('zstd'), [corrupt]), (e) => isHullError(e, 'ARCHIVE_INVALID') && /zstd/.test(e.message));
  });

  it('reports truncated zstd as ARCHIVE_INVALID', async () => {
    const zst = zstdOf(payload);
    await assert.rejects(through(decompressStream('zstd'), [zst.subarray(0, zst.length / 2)]), (e) => isHullError(e, 'ARCHIVE_INVALID'));
  });

  it('says so clearly when the zstd program is missing', async () => {
    const zst = zstdOf(payload);
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(through(decompressStream('zstd'), [zst]), (e) => isHullError(e, 'INTERNAL') && /zstd program is missing/.test(e.message));
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('sniffingDecompressor', () => {
  it('picks gzip, zstd or none from the first bytes, even when they arrive one at a time', async () => {
    for (const compressed of [gzipSync(payload), zstdOf(payload), payload]) {
      const head = chunked(compressed.subarray(0, 8), 1);
      const rest = chunked(compressed.subarray(8), 64 * 1024);
      assert.ok((await through(sniffingDecompressor(), [...head, ...rest])).equals(payload));
    }
  });

  it('passes input shorter than any magic number through unchanged', async () => {
    assert.deepEqual(await through(sniffingDecompressor(), [Buffer.from('ab')]), Buffer.from('ab'));
    assert.deepEqual(await through(sniffingDecompressor(), []), Buffer.alloc(0));
  });

  it('forwards the inner decompressor\'s errors', async () => {
    const zst = zstdOf(payload);
    await assert.rejects(through(sniffingDecompressor(), [zst.subarray(0, zst.length / 2)]), (e) => isHullError(e, 'ARCHIVE_INVALID'));
  });
});
