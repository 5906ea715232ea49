/**
 * Worker thread entry for layer-ingest.ts: runs one ingest at a time on bytes the starting
 * thread transfers to it, so that hashing, decompressing and unpacking several layers at once
 * can use more than one core. It needs only the filesystem: the blob and layer stores are
 * rebuilt from the root path (the database stays with the caller, who records the result).
 * The native addon loads here as in the main thread (N-API addons are context-aware).
 */
import { parentPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { BlobStore } from './blob-store.js';
import { ingestHere, toWire } from './layer-ingest.js';
import type { FromWorker, ToWorker, WorkerIngestOptions } from './layer-ingest.js';
import { LayerStore } from './layer-store.js';

const port: MessagePort = parentPort!;

function send(m: FromWorker): void {
  port.postMessage(m);
}

/** The bytes of the running ingest, as they arrive; each is acknowledged once the ingest has taken it. */
class Incoming implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private aborted = false;
  private wake: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  abort(): void {
    this.aborted = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      // The starting thread reports the source's own error; this one only unwinds the ingest.
      if (this.aborted) throw new Error('the layer source failed');
      const chunk = this.chunks.shift();
      if (chunk) {
        yield chunk;
        // Asked for the next chunk: the ingest has taken this one in.
        send({ type: 'ack', bytes: chunk.length });
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

let current: Incoming | undefined;

function start(root: string, opts: WorkerIngestOptions): void {
  const incoming = new Incoming();
  current = incoming;
  const store = { root, blobs: new BlobStore(root), layers: new LayerStore(root) };
  void ingestHere(store, incoming, opts, (paths) => send({ type: 'temps', paths }))
    .then(
      (layer) => send({ type: 'done', layer }),
      (e: unknown) => send({ type: 'failed', error: toWire(e) }),
    )
    .finally(() => {
      if (current === incoming) current = undefined;
    });
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      start(m.root, m.opts);
      return;
    case 'data':
      current?.push(new Uint8Array(m.buffer, 0, m.length));
      return;
    case 'end':
      current?.end();
      return;
    case 'abort':
      current?.abort();
      return;
  }
});
