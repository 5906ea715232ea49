/** Image endpoints: create (pull/import), list, inspect, history, push, tag, delete, prune, get, load. */
import type { ServerResponse } from 'node:http';
import { parseImageFilters } from '../../engine/images.js';
import { parsePlatform } from '../../image/platform.js';
import type { ProgressEvent } from '../../image/progress.js';
import { formatReference, parseNormalizedTagged } from '../../image/reference.js';
import { HullError, messageOf } from '../../util/errors.js';
import { boolParam, filterParam, sendJson, type Ctx, type Route } from '../http.js';

/** Docker's JSON message stream: one object per line; errors go in-band once it has begun. */
export class JsonStream {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
  }

  send(o: Record<string, unknown>): void {
    if (this.res.writable) this.res.write(`${JSON.stringify(o)}\n`);
  }

  progress = (e: ProgressEvent): void => {
    this.send({
      status: e.status,
      ...(e.id ? { id: e.id } : {}),
      ...(e.current !== undefined ? { progressDetail: { current: e.current, ...(e.total !== undefined ? { total: e.total } : {}) } } : { progressDetail: {} }),
    });
  };

  error(e: unknown): void {
    const message = messageOf(e);
    this.send({ errorDetail: { message }, error: message });
  }

  end(): void {
    this.res.end();
  }
}

/** Run `work` inside a JSON message stream, reporting a failure in-band as Docker does. */
export async function streamed(ctx: Ctx, work: (s: JsonStream, signal: AbortSignal) => Promise<void>): Promise<void> {
  const s = new JsonStream(ctx.res);
  const abort = new AbortController();
  ctx.res.once('close', () => abort.abort());
  try {
    await work(s, abort.signal);
  } catch (e) {
    s.error(e);
  }
  s.end();
}

/**
 * X-Registry-Auth: base64(url) JSON with username/password (or Docker's `auth`, base64
 * user:pass). Absent or empty: the server's own docker config is used.
 */
export function registryAuth(header: string | string[] | undefined): { username: string; password: string } | undefined {
  const v = base64Json(header, 'X-Registry-Auth');
  return v === undefined ? undefined : authConfigCredentials(v);
}

type AuthConfig = { username?: unknown; password?: unknown; auth?: unknown } | null;

/** A header holding base64(url) JSON (X-Registry-Auth, X-Registry-Config); undefined when absent or empty. */
export function base64Json(header: string | string[] | undefined, name: string): unknown {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new HullError('INVALID_ARGUMENT', `invalid ${name} header: not base64-encoded JSON`);
  }
  if (v === null || typeof v !== 'object') throw new HullError('INVALID_ARGUMENT', `invalid ${name} header: not a JSON object`);
  return v;
}

/** Docker's AuthConfig: username and password, or `auth` (base64 user:pass); undefined when it holds neither. */
export function authConfigCredentials(v: AuthConfig): { username: string; password: string } | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  if (typeof v.username === 'string' && v.username !== '' && typeof v.password === 'string') return { username: v.username, password: v.password };
  if (typeof v.auth === 'string' && v.auth !== '') {
    const pair = Buffer.from(v.auth, 'base64').toString('utf8');
    const i = pair.indexOf(':');
    if (i > 0) return { username: pair.slice(0, i), password: pair.slice(i + 1) };
  }
  return undefined;
}

/** POST /images/create: fromImage (pull) or fromSrc (import from the request body). */
async function create(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const fromImage = q.get('fromImage');
  const fromSrc = q.get('fromSrc');
  const tag = q.get('tag') ?? '';
  const platform = q.get('platform') ? parsePlatform(q.get('platform')!) : undefined;
  if (fromImage) {
    // `tag` is a tag or a digest; Docker also accepts the tag inside fromImage.
    const name = tag ? (tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
    const ref = formatReference(parseNormalizedTagged(name));
    const creds = registryAuth(ctx.req.headers['x-registry-auth']);
    await streamed(ctx, async (s, signal) => {
      await ctx.engine.withCredentials(creds, () => ctx.engine.pull(ref, { progress: s.progress, signal, ...(platform ? { platform } : {}) }));
    });
    return;
  }
  if (fromSrc) {
    if (fromSrc !== '-') throw new HullError('INVALID_ARGUMENT', 'importing from a URL is not supported: send the tarball in the request body (fromSrc=-)');
    const repo = q.get('repo');
    const changes = q.getAll('changes');
    const message = q.get('message');
    await streamed(ctx, async (s) => {
      const id = await ctx.engine.import(ctx.req, {
        ...(repo ? { ref: tag ? `${repo}:${tag}` : repo } : {}),
        ...(changes.length ? { changes } : {}),
        ...(message ? { message } : {}),
        source: '-',
        ...(platform ? { platform } : {}),
      });
      s.send({ status: id });
    });
    return;
  }
  throw new HullError('INVALID_ARGUMENT', 'either fromImage or fromSrc is required');
}

function list(ctx: Ctx): void {
  const filters = parseImageFilters(filterParam(ctx.query));
  sendJson(ctx.res, 200, ctx.engine.listImages(filters));
}

function inspect(ctx: Ctx): void {
  sendJson(ctx.res, 200, ctx.engine.inspectImage(ctx.params[0]!));
}

function history(ctx: Ctx): void {
  sendJson(ctx.res, 200, ctx.engine.history(ctx.params[0]!));
}

async function push(ctx: Ctx): Promise<void> {
  const name = ctx.params[0]!;
  const tag = ctx.query.get('tag');
  const ref = tag ? `${name}:${tag}` : name;
  // Fail before the stream starts when the image is not here (Docker's 404).
  ctx.engine.images.get(ref);
  const creds = registryAuth(ctx.req.headers['x-registry-auth']);
  await streamed(ctx, async (s) => {
    const r = await ctx.engine.withCredentials(creds, () => ctx.engine.push(ref, s.progress));
    s.send({ progressDetail: {}, aux: { Tag: r.ref.tag ?? '', Digest: r.digest, Size: r.size } });
  });
}

function tag(ctx: Ctx): void {
  const repo = ctx.query.get('repo');
  if (!repo) throw new HullError('INVALID_ARGUMENT', 'repository name must have at least one component');
  const t = ctx.query.get('tag');
  ctx.engine.tag(ctx.params[0]!, t ? `${repo}:${t}` : repo);
  ctx.res.writeHead(201, { 'Content-Length': 0 });
  ctx.res.end();
}

async function remove(ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, await ctx.engine.removeImage(ctx.params[0]!, { force: boolParam(ctx.query, 'force') }));
}

async function prune(ctx: Ctx): Promise<void> {
  const raw = filterParam(ctx.query);
  // `dangling=false` is how the docker CLI says -a.
  const all = raw.some((f) => f === 'dangling=false' || f === 'dangling=0');
  const filters = parseImageFilters(raw.filter((f) => !f.startsWith('dangling=')));
  sendJson(ctx.res, 200, await ctx.engine.pruneImages({ all, filters }));
}

async function save(ctx: Ctx, names: string[]): Promise<void> {
  // Refuse unknown names before the 200: a tar stream cannot carry an error.
  for (const n of names) ctx.engine.images.get(n);
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await ctx.engine.save(names, ctx.res);
  } catch {
    ctx.res.destroy();
    return;
  }
  ctx.res.end();
}

async function load(ctx: Ctx): Promise<void> {
  const quiet = boolParam(ctx.query, 'quiet');
  await streamed(ctx, async (s) => {
    const r = await ctx.engine.load(ctx.req, quiet ? () => undefined : s.progress);
    for (const m of r.messages) s.send({ stream: `${m}\n` });
  });
}

export const imageRoutes: Route[] = [
  { method: 'POST', path: '/images/create', handler: create },
  { method: 'GET', path: '/images/json', handler: list },
  { method: 'POST', path: '/images/prune', handler: prune },
  { method: 'POST', path: '/images/load', handler: load },
  { method: 'GET', path: '/images/get', handler: (ctx) => save(ctx, ctx.query.getAll('names')) },
  { method: 'GET', path: '/images/search', handler: () => {
    throw new HullError('NOT_IMPLEMENTED', 'search is not supported: hull has no registry index to search');
  } },
  { method: 'GET', path: '/images/{name*}/json', handler: inspect },
  { method: 'GET', path: '/images/{name*}/history', handler: history },
  { method: 'GET', path: '/images/{name*}/get', handler: (ctx) => save(ctx, [ctx.params[0]!]) },
  { method: 'POST', path: '/images/{name*}/push', handler: push },
  { method: 'POST', path: '/images/{name*}/tag', handler: tag },
  { method: 'DELETE', path: '/images/{name*}', handler: remove },
];
