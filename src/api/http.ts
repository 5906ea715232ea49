/**
 * The HTTP plumbing every route shares: the request context, JSON in and out, Docker's query
 * conventions (1/true booleans, JSON-encoded filters), errors as `{"message"}` with the
 * HullError's status, and hijacking a connection for attach and exec.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Engine } from '../engine/engine.js';
import { HullError, messageOf } from '../util/errors.js';
import type { ApiState } from './state.js';

export interface Ctx {
  engine: Engine;
  state: ApiState;
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, in route order. */
  params: string[];
  query: URLSearchParams;
  /** The API version the client asked for (from the /v1.xx prefix, else the server's). */
  version: number;
  /** Set when the request came with `Upgrade: tcp`: the raw connection and what followed the headers. */
  upgrade?: { socket: Duplex; head: Buffer };
  /** An upgraded request's body, read off the socket before it is handed over (see server.ts). */
  body?: Buffer;
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

export interface Route {
  method: string;
  /** `/containers/{id}/json`; `{name*}` matches across slashes (image names). */
  path: string;
  handler: Handler;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendStatus(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

export function sendError(res: ServerResponse, e: unknown): void {
  const status = e instanceof HullError ? e.status : 500;
  const message = e instanceof HullError ? e.message : `internal error: ${messageOf(e)}`;
  if (res.headersSent) {
    // Mid-stream: the status is gone, end the stream (streams report errors in their own form).
    res.destroy();
    return;
  }
  if (status === 304) return sendStatus(res, 304);
  sendJson(res, status, { message });
}

const MAX_JSON_BODY = 16 << 20;

/** The request body as JSON; empty is `{}`. Malformed JSON is a 400, never a crash. */
export async function readJson<T = Record<string, unknown>>(ctx: Pick<Ctx, 'req' | 'body'>): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (ctx.body) chunks.push(ctx.body);
  else {
    for await (const c of ctx.req) {
      size += (c as Buffer).length;
      if (size > MAX_JSON_BODY) throw new HullError('INVALID_ARGUMENT', 'request body too large');
      chunks.push(c as Buffer);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {} as T;
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as T;
  } catch (e) {
    throw new HullError('INVALID_ARGUMENT', `invalid JSON: ${messageOf(e)}`);
  }
}

/** Docker's boolean query values: 1/true/True are true, 0/false/empty/absent are false. */
export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  const l = v.toLowerCase();
  if (l === '' || l === '0' || l === 'false') return false;
  if (l === '1' || l === 'true') return true;
  throw new HullError('INVALID_ARGUMENT', `invalid value for ${name}: ${v}`);
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HullError('INVALID_ARGUMENT', `invalid value for ${name}: ${v}`);
  return n;
}

/**
 * `filters={"status":["running"],"label":{"a=b":true}}` → `["status=running", "label=a=b"]`,
 * the form the engine's filters take.
 */
export function filterParam(q: URLSearchParams): string[] {
  const raw = q.get('filters');
  if (!raw) return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new HullError('INVALID_ARGUMENT', `invalid filter: ${raw}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HullError('INVALID_ARGUMENT', `invalid filter: ${raw}`);
  const out: string[] = [];
  for (const [k, vals] of Object.entries(v as Record<string, unknown>)) {
    const list = Array.isArray(vals) ? vals : vals && typeof vals === 'object' ? Object.keys(vals).filter((x) => (vals as Record<string, unknown>)[x]) : undefined;
    if (!list) throw new HullError('INVALID_ARGUMENT', `invalid filter: ${raw}`);
    for (const x of list) out.push(`${k}=${String(x)}`);
  }
  return out;
}

/** Parse `filters` into key → values. */
export function filterMap(q: URLSearchParams): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const f of filterParam(q)) {
    const i = f.indexOf('=');
    const k = f.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), f.slice(i + 1)]);
  }
  return m;
}

/** Check a JSON field's type, with Docker's wording for a mismatch. */
export function expectType(value: unknown, type: 'string' | 'number' | 'boolean' | 'object' | 'array', field: string): void {
  if (value === undefined || value === null) return;
  const ok = type === 'array' ? Array.isArray(value) : type === 'object' ? typeof value === 'object' && !Array.isArray(value) : typeof value === type;
  if (!ok) throw new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into Go struct field ${field} of type ${type}`);
}

/** A JSON string → string map (Labels, Options, DriverOpts); null or absent is empty. */
export function stringMap(v: unknown, field: string): Record<string, string> {
  expectType(v, 'object', field);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries((v ?? {}) as Record<string, unknown>)) {
    expectType(x, 'string', field);
    if (typeof x === 'string') out[k] = x;
  }
  return out;
}

const RAW_STREAM = 'application/vnd.docker.raw-stream';
const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

export interface Hijacked {
  /** Where the stream's output goes. */
  out: Writable;
  /** What the client sends (the container's stdin), when the connection is really hijacked. */
  input?: Readable;
  /** Settles when the client goes away. */
  closed: Promise<void>;
  /** End the stream (the container or process is done). */
  end(): void;
}

/**
 * Take over the connection for a bidirectional stream. With `Upgrade: tcp` (what docker and
 * dockerode send) answer 101 and use the raw socket both ways. Without it, answer 200 and
 * stream the output as the response body; the request body, if any, is the input.
 */
export function hijack(ctx: Ctx, multiplexed: boolean): Hijacked {
  const type = multiplexed ? MULTIPLEXED_STREAM : RAW_STREAM;
  if (ctx.upgrade) {
    const { socket, head } = ctx.upgrade;
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    return { out: socket, input: socket, closed, end: () => socket.end() };
  }
  const { req, res } = ctx;
  res.writeHead(200, { 'Content-Type': type });
  res.flushHeaders();
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  return { out: res, input: req, closed, end: () => res.end() };
}

/** Docker's stdcopy frame: stream (1 stdout, 2 stderr), 3 zero bytes, big-endian length, payload. */
export function stdcopyFrame(stream: 1 | 2, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
