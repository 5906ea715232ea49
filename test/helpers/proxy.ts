/**
 * A fault-injecting TCP proxy on 127.0.0.1 for registry tests: it forwards bytes unchanged, but
 * reads the HTTP request heads going through so it can record them, cut the response to a blob
 * GET part way (a dropped connection, as flaky networks and proxies produce), and throttle
 * responses (so a pull lasts long enough to be killed in the middle).
 *
 * Request parsing relies on clients not pipelining (undici, which hull's fetch uses, does not):
 * on one connection the response bytes after a request head belong to that request.
 */
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

export interface ProxyOptions {
  /** Cut the response to a blob GET once this many response bytes (head included) went through. */
  cutBlobAfter?: number;
  /** How many blob responses to cut; unlimited when absent. */
  cuts?: number;
  /** Forward responses at most this fast, per connection; 0 or absent means unthrottled. Changeable while running. */
  bytesPerSecond?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Header names lowercased. */
  headers: Record<string, string>;
}

export interface TestProxy {
  /** `127.0.0.1:PORT`, to use in image references instead of the registry's host. */
  host: string;
  options: ProxyOptions;
  requests: ProxiedRequest[];
  /** Responses cut so far. */
  cutsDone: number;
  /** Response bytes forwarded to clients so far. */
  bytesToClients: number;
  stop(): Promise<void>;
}

const BLOB_PATH = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;
/** A request head bigger than this means the bytes are not HTTP we understand; parsing stops. */
const MAX_HEAD_BYTES = 64 * 1024;

interface Exchange {
  blobGet: boolean;
  responseBytes: number;
}

/** Splits the client→server byte stream into request heads; bodies (Content-Length only) are skipped. */
class RequestParser {
  private buf = Buffer.alloc(0);
  private bodyLeft = 0;
  private gaveUp = false;

  constructor(private readonly onRequest: (req: ProxiedRequest) => void) {}

  push(chunk: Buffer): void {
    if (this.gaveUp) return;
    this.buf = Buffer.concat([this.buf, chunk]);
    // Each pass consumes a body part or a whole head, so this ends within buf.length passes.
    while (this.buf.length > 0) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, this.buf.length);
        this.bodyLeft -= n;
        this.buf = this.buf.subarray(n);
        continue;
      }
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > MAX_HEAD_BYTES) this.gaveUp = true;
        return;
      }
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      this.buf = this.buf.subarray(end + 4);
      const [method = '', path = ''] = (lines[0] ?? '').split(' ');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      this.onRequest({ method, path, headers });
      // Chunked request bodies are not followed; these tests only pull through the proxy.
      if (headers['transfer-encoding']) this.gaveUp = true;
      this.bodyLeft = Number(headers['content-length'] ?? 0) || 0;
      if (this.gaveUp) return;
    }
  }
}

export async function startProxy(target: { host: string }, options: ProxyOptions = {}): Promise<TestProxy> {
  const [targetHost = '', targetPort = ''] = target.host.split(':');
  if (targetHost !== '127.0.0.1') throw new Error(`the test proxy only forwards to 127.0.0.1, not ${target.host}`);
  const sockets = new Set<Socket>();
  const proxy: TestProxy = {
    host: '',
    options,
    requests: [],
    cutsDone: 0,
    bytesToClients: 0,
    stop: () => Promise.resolve(),
  };

  const handle = (client: Socket): void => {
    const upstream = connect(Number(targetPort), targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.end();
    });

    let current: Exchange | undefined;
    const parser = new RequestParser((req) => {
      proxy.requests.push(req);
      current = { blobGet: req.method === 'GET' && BLOB_PATH.test(req.path), responseBytes: 0 };
    });
    client.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      upstream.write(chunk);
    });

    upstream.on('data', (chunk: Buffer) => {
      const cutAt = options.cutBlobAfter;
      const mayCut = cutAt !== undefined && current?.blobGet === true && proxy.cutsDone < (options.cuts ?? Infinity);
      if (mayCut && current && current.responseBytes + chunk.length > cutAt) {
        // Forward up to the cut point, then drop the connection as a failing network would.
        const part = chunk.subarray(0, Math.max(0, cutAt - current.responseBytes));
        current.responseBytes += part.length;
        proxy.bytesToClients += part.length;
        proxy.cutsDone++;
        upstream.destroy();
        client.write(part, () => client.resetAndDestroy());
        return;
      }
      if (current) current.responseBytes += chunk.length;
      proxy.bytesToClients += chunk.length;
      client.write(chunk);
      const rate = options.bytesPerSecond ?? 0;
      if (rate > 0) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (chunk.length / rate) * 1000);
      }
    });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
