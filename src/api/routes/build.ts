/**
 * POST /build: the request body is the context (a tar, possibly compressed), the query the
 * options of Docker's classic builder API; Engine.build runs it. The answer is Docker's JSON
 * message stream: `{"stream": …}` lines, `{"aux":{"ID":…}}` with the image id, and a failure
 * in-band as `{"errorDetail":{…},"error":…}` (the docker CLI exits with errorDetail.code).
 */
import { RunFailedError } from '../../build/builder.js';
import type { EngineBuildOptions } from '../../engine/build.js';
import { familiarString, parseNormalizedTagged } from '../../image/reference.js';
import { HullError, messageOf } from '../../util/errors.js';
import { boolParam, filterParam, sendJson, type Ctx, type Route } from '../http.js';
import { authConfigCredentials, base64Json, streamed } from './images.js';

/**
 * X-Registry-Config: base64url JSON of registry → AuthConfig, what the docker CLI sends from
 * its config (every registry it has credentials for, keyed as config.json's `auths`). Used for
 * the FROM pulls of this build; undefined when absent or holding no usable entry.
 */
export function registryConfig(header: string | string[] | undefined): { byRegistry: Record<string, { username: string; password: string }> } | undefined {
  const v = base64Json(header, 'X-Registry-Config') as Record<string, unknown> | undefined;
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new HullError('INVALID_ARGUMENT', 'invalid X-Registry-Config header: not a JSON object');
  const byRegistry: Record<string, { username: string; password: string }> = {};
  for (const [registry, entry] of Object.entries(v)) {
    const creds = authConfigCredentials(entry as Parameters<typeof authConfigCredentials>[0]);
    if (creds) byRegistry[registry] = creds;
  }
  return Object.keys(byRegistry).length > 0 ? { byRegistry } : undefined;
}

/** A JSON-encoded map query parameter (buildargs, labels); a null value means "not set". */
function jsonMap(q: URLSearchParams, name: string): Record<string, string> {
  const raw = q.get(name);
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new HullError('INVALID_ARGUMENT', `invalid ${name} parameter: not a JSON object: ${raw}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new HullError('INVALID_ARGUMENT', `invalid ${name} parameter: not a JSON object: ${raw}`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === null) continue;
    if (typeof x !== 'string') throw new HullError('INVALID_ARGUMENT', `invalid ${name} parameter: the value of ${k} is not a string`);
    out[k] = x;
  }
  return out;
}

/** The query → the engine's build options; anything hull cannot honour is a 400 before the stream begins. */
export function buildOptions(q: URLSearchParams): EngineBuildOptions & { quiet: boolean } {
  if (q.get('remote')) throw new HullError('INVALID_ARGUMENT', 'remote build contexts (git URLs, tarball URLs) are not supported by hull: send the context as the request body');
  const version = q.get('version');
  if (version === '2') throw new HullError('INVALID_ARGUMENT', 'BuildKit (version=2) is not supported by hull: use the classic builder API (DOCKER_BUILDKIT=0)');
  const dockerfile = q.get('dockerfile');
  const target = q.get('target');
  const network = q.get('networkmode');
  return {
    tags: q.getAll('t').filter((t) => t !== ''),
    ...(dockerfile ? { dockerfilePath: dockerfile } : {}),
    buildArgs: jsonMap(q, 'buildargs'),
    ...(target ? { target } : {}),
    noCache: boolParam(q, 'nocache'),
    pull: boolParam(q, 'pull'),
    labels: jsonMap(q, 'labels'),
    ...(network ? { network } : {}),
    quiet: boolParam(q, 'q'),
  };
}

async function build(ctx: Ctx): Promise<void> {
  const { quiet, ...opts } = buildOptions(ctx.query);
  const creds = registryConfig(ctx.req.headers['x-registry-config']);
  await streamed(ctx, async (s, signal) => {
    const line = (text: string): void => s.send({ stream: `${text}\n` });
    try {
      const result = await ctx.engine.withCredentials(creds, () => ctx.engine.build(ctx.req, { ...opts, signal }, quiet ? () => undefined : line));
      s.send({ aux: { ID: result.id } });
      if (quiet) line(result.id);
      else {
        line(`Successfully built ${result.id.replace(/^sha256:/, '').slice(0, 12)}`);
        for (const t of result.tags) line(`Successfully tagged ${familiarString(parseNormalizedTagged(t))}`);
      }
    } catch (e) {
      // A failing RUN carries its exit status, which `docker build` exits with.
      const code = e instanceof RunFailedError ? e.exitCode : 1;
      const message = messageOf(e);
      s.send({ errorDetail: { code, message }, error: message });
    }
  });
}

/** POST /build/prune (`docker builder prune`): hull's cache has no per-entry filters, so it is all or nothing. */
async function prune(ctx: Ctx): Promise<void> {
  const filters = filterParam(ctx.query);
  if (filters.length > 0) throw new HullError('INVALID_ARGUMENT', `build cache prune filters are not supported by hull: ${filters.join(', ')}`);
  const freed = await ctx.engine.pruneBuildCache();
  sendJson(ctx.res, 200, { CachesDeleted: null, SpaceReclaimed: freed });
}

export const buildRoutes: Route[] = [
  { method: 'POST', path: '/build', handler: build },
  { method: 'POST', path: '/build/prune', handler: prune },
];
