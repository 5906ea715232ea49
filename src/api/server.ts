/**
 * `hull serve`: the Docker Engine API on node:http, over one Engine (one state root, shared
 * with the CLI through SQLite). Each request is routed to a handler that calls engine/ and
 * answers Docker's JSON; hijacked streams (attach, exec) get the raw socket.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Engine } from '../engine/engine.js';
import { HullError, messageOf } from '../util/errors.js';
import { sendError, type Ctx } from './http.js';
import { API_VERSION, Router } from './router.js';
import { ApiState } from './state.js';
import { tracerFromEnv, unixMs } from './trace.js';
import { buildRoutes } from './routes/build.js';
import { containerRoutes } from './routes/containers.js';
import { containerStreamRoutes } from './routes/container-streams.js';
import { execRoutes } from './routes/exec.js';
import { imageRoutes } from './routes/images.js';
import { networkRoutes } from './routes/networks.js';
import { systemRoutes } from './routes/system.js';
import { unsupportedRoutes } from './routes/unsupported.js';
import { volumeRoutes } from './routes/volumes.js';

export const DEFAULT_HOST = 'unix:///run/hull/docker.sock';

export type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `-H` values Docker accepts that hull serves: unix://PATH and tcp://HOST:PORT. */
export function parseHost(h: string): Listen {
  if (h.startsWith('unix://')) {
    const path = h.slice('unix://'.length);
    if (!path.startsWith('/')) throw new HullError('INVALID_ARGUMENT', `invalid unix socket path in ${h}: must be absolute`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:\/\/(\[[0-9a-fA-F:]+\]|[^:/]+):(\d+)\/?$/.exec(h);
  if (m) {
    const port = Number(m[2]);
    if (port > 65535) throw new HullError('INVALID_ARGUMENT', `invalid port in ${h}`);
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new HullError('INVALID_ARGUMENT', `invalid host ${h}: expected unix:///path or tcp://host:port`);
}

export function buildRouter(): Router {
  return new Router().add(systemRoutes).add(containerRoutes).add(containerStreamRoutes).add(execRoutes).add(imageRoutes).add(networkRoutes).add(volumeRoutes).add(buildRoutes).add(unsupportedRoutes);
}

export class ApiServer {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly socketPaths: string[] = [];
  readonly state: ApiState;
  private readonly router = buildRouter();
  private readonly trace = tracerFromEnv();
  /** Where each listener ended up (tcp port 0 resolves to the real port). */
  readonly addresses: string[] = [];

  constructor(private readonly engine: Engine) {
    this.state = new ApiState(engine);
  }

  async listen(hosts: Listen[]): Promise<void> {
    for (const h of hosts) {
      const server = createServer({ keepAlive: true }, (req, res) => void this.handle(req, res));
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const res = new ServerResponse(req);
        res.assignSocket(socket as Socket);
        res.shouldKeepAlive = false;
        // Node leaves an upgraded request's body unparsed, on the socket: take Content-Length
        // bytes of it first, so that only what follows reaches the stream as stdin.
        void readUpgradeBody(req, socket, head).then(
          ({ body, rest }) => this.handle(req, res, { socket, head: rest }, body),
          () => socket.destroy(),
        );
      });
      server.on('connection', (s: Socket) => {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
      });
      server.on('clientError', (_e, socket: Duplex) => {
        if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      });
      if (h.kind === 'unix') {
        await prepareSocketPath(h.path);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(h.path, () => resolve());
        });
        chmodSync(h.path, 0o660);
        this.socketPaths.push(h.path);
        this.addresses.push(`unix://${h.path}`);
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(h.port, h.host, () => resolve());
        });
        const a = server.address();
        const port = a && typeof a === 'object' ? a.port : h.port;
        this.addresses.push(`tcp://${h.host.includes(':') ? `[${h.host}]` : h.host}:${port}`);
      }
      this.servers.push(server);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }, body?: Buffer): Promise<void> {
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `hull/0.1.0 (linux)`);
    const start = this.trace ? unixMs() : 0;
    try {
      const url = new URL(req.url ?? '/', 'http://hull');
      const { route, params, version } = this.router.match(req.method ?? 'GET', url.pathname);
      const ctx: Ctx = { engine: this.engine, state: this.state, req, res, params, query: url.searchParams, version: Number(version), ...(upgrade ? { upgrade } : {}), ...(body ? { body } : {}) };
      if (upgrade) {
        this.sockets.add(upgrade.socket);
        upgrade.socket.once('close', () => this.sockets.delete(upgrade.socket));
      }
      await route.handler(ctx);
    } catch (e) {
      if (!(e instanceof HullError) && process.env.HULL_DEBUG) process.stderr.write(`hull serve: ${req.method} ${req.url}: ${messageOf(e)}\n${(e as Error).stack ?? ''}\n`);
      sendError(res, e);
    } finally {
      this.trace?.({ method: req.method ?? '', path: req.url ?? '', status: res.statusCode, start, end: unixMs() });
    }
  }

  /** Stop accepting, let requests in flight finish for `graceMs`, then drop what is left. */
  async close(graceMs = 2000): Promise<void> {
    this.state.events.close();
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of this.servers) s.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(timer);
    for (const p of this.socketPaths) {
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
    }
  }
}

const MAX_UPGRADE_BODY = 1 << 20;

async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<{ body: Buffer; rest: Buffer }> {
  const want = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(want) || want <= 0 || want > MAX_UPGRADE_BODY) return { body: Buffer.alloc(0), rest: head };
  let buf = head;
  while (buf.length < want) {
    const chunk = await new Promise<Buffer>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        cleanup();
        resolve(d);
      };
      const onEnd = (): void => {
        cleanup();
        reject(new Error('connection closed before the request body'));
      };
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    buf = Buffer.concat([buf, chunk]);
  }
  return { body: buf.subarray(0, want), rest: buf.subarray(want) };
}

/**
 * A socket file left by a server that is gone is removed; one a live server answers on is a
 * clear error rather than two servers fighting over it.
 */
async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new HullError('CONFLICT', `${path} is in use by another server: stop it first, or choose another socket with -H`);
  unlinkSync(path);
}
