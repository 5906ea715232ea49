/**
 * A client for the OCI Distribution API (registry v2) on Node's built-in fetch: manifests and blobs
 * in both directions, with Docker's auth flow, error wording and plain-HTTP rules for local registries.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { HullError, isHullError, messageOf } from '../../util/errors.js';
import type { Digest } from '../digest.js';
import { isDigest, sha256Of } from '../digest.js';
import {
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
} from '../media-types.js';
import { familiarName, isLoopbackDomain } from '../reference.js';
import type { Challenge } from './auth.js';
import { basicAuthorization, networkMessage, parseWwwAuthenticate, pickChallenge, TokenCache } from './auth.js';
import type { Credentials } from './credentials.js';

export const DAEMON_CONFIG_PATH = '/etc/hull/daemon.json';
/** Docker refuses manifests over 4 MiB; a bigger one is a misbehaving or hostile registry. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TRIES = 3;
const BACKOFF_MS = [200, 600];
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** Connection hiccups worth another try; a refused connection is not (fail fast when a registry is down). */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED']);

/** Errors worth another attempt (connection reset, 5xx); marked rather than subclassed to keep one error type. */
const transientErrors = new WeakSet<HullError>();

function insecureEntries(daemonConfigPath: string): string[] {
  const entries = (process.env['HULL_INSECURE_REGISTRIES'] ?? '').split(',');
  let text: string | undefined;
  try {
    text = readFileSync(daemonConfigPath, 'utf8');
  } catch {
    // No daemon.json is the normal case.
  }
  if (text !== undefined) {
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (e) {
      throw new HullError('INVALID_ARGUMENT', `${daemonConfigPath} is not valid JSON: ${messageOf(e)}`, { cause: e });
    }
    const list = (config as { 'insecure-registries'?: unknown })?.['insecure-registries'];
    if (Array.isArray(list)) entries.push(...list.filter((x): x is string => typeof x === 'string'));
  }
  return entries.map((e) => e.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '')).filter((e) => e !== '');
}

/**
 * Whether `domain` is configured to be spoken to over plain HTTP: listed in `HULL_INSECURE_REGISTRIES`
 * (comma separated) or in `insecure-registries` of /etc/hull/daemon.json — as `host:port`, or as a
 * CIDR covering the host's IP, exactly as Docker's daemon.json accepts them.
 */
export function isInsecureRegistry(domain: string, daemonConfigPath = DAEMON_CONFIG_PATH): boolean {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : domain.replace(/:\d+$/, '');
  const family = isIPv4(host) ? 'ipv4' : isIPv6(host) ? 'ipv6' : undefined;
  for (const entry of insecureEntries(daemonConfigPath)) {
    if (entry === domain) return true;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr && family) {
      const [, net = '', prefix = ''] = cidr;
      const netFamily = isIPv4(net) ? 'ipv4' : isIPv6(net) ? 'ipv6' : undefined;
      if (netFamily !== family) continue;
      const list = new BlockList();
      list.addSubnet(net, Number(prefix), netFamily);
      if (list.check(host, family)) return true;
    }
  }
  return false;
}

/** Docker Hub's API lives on another host than its name. */
function apiHost(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' ? 'registry-1.docker.io' : domain;
}

export interface RegistryClientOptions {
  /** Registry as it appears in references: `docker.io`, `127.0.0.1:5000`. */
  domain: string;
  /** Force plain HTTP. Default: loopback registries and those isInsecureRegistry lists. */
  insecure?: boolean;
  credentials?: Credentials | undefined;
  userAgent: string;
}

export interface FetchedManifest {
  mediaType: string;
  digest: Digest;
  body: Buffer;
}

export interface FetchedBlob {
  body: ReadableStream<Uint8Array>;
  /** Size of the whole blob when the registry says it (not of the remaining part). */
  size: number | undefined;
  /** Where `body` starts: the requested offset when the registry honoured the Range, else 0. */
  offset: number;
}

interface RegistryErrorEntry {
  code?: string;
  message?: string;
}

interface RequestOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  url: URL;
  /** Token scopes the request needs, e.g. `repository:library/busybox:pull`. */
  scopes: string[];
  headers?: Record<string, string>;
  /** A factory so that an auth retry or a transient-failure retry can send the body again. */
  body?: () => Readable | Buffer;
  /** Safe to repeat after a transient failure (GET, HEAD, PUT of a manifest). */
  idempotent?: boolean;
  signal?: AbortSignal | undefined;
}

/** `manifest unknown` from `{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}`, Docker's errcode wording. */
function describeErrors(errors: RegistryErrorEntry[]): string {
  return errors
    .map(({ code, message }) => {
      const words = (code ?? '').toLowerCase().replace(/_/g, ' ');
      if (!message || message.toLowerCase() === words) return words || 'unknown error';
      return words ? `${words}: ${message}` : message;
    })
    .join('; ');
}

async function readErrors(res: Response): Promise<RegistryErrorEntry[]> {
  if (res.bodyUsed || !res.body) return [];
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { errors?: unknown };
    return Array.isArray(parsed.errors) ? (parsed.errors as RegistryErrorEntry[]) : [];
  } catch {
    return [];
  }
}

function isTransientNetworkError(e: unknown): boolean {
  for (let cur: unknown = e; cur instanceof Error; cur = (cur as { cause?: unknown }).cause) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    if (cur instanceof AggregateError && cur.errors.some(isTransientNetworkError)) return true;
  }
  return false;
}

/** Fail with DIGEST_MISMATCH unless `body` hashes to `expected`. */
export function verifyDigest(expected: Digest, body: Uint8Array, what: string): void {
  const actual = sha256Of(body);
  if (actual !== expected) {
    throw new HullError('DIGEST_MISMATCH', `${what}: content digest ${actual} does not match the expected ${expected}`);
  }
}

/**
 * The media type of a fetched manifest: the Content-Type when it is a manifest type, else the
 * body's own `mediaType`, else inferred from its shape (OCI allowed omitting mediaType before 1.1).
 */
function manifestMediaType(contentType: string | null, body: Buffer, what: string): string {
  const header = (contentType ?? '').split(';')[0]?.trim() ?? '';
  if (MANIFEST_MEDIA_TYPES.includes(header)) return header;
  let parsed: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    throw new HullError('REGISTRY_ERROR', `${what}: the registry returned a manifest that is not JSON (Content-Type ${header || 'missing'})`);
  }
  let mediaType = typeof parsed.mediaType === 'string' ? parsed.mediaType : undefined;
  if (mediaType === undefined && parsed.schemaVersion === 2) {
    if (Array.isArray(parsed.manifests)) mediaType = MEDIA_TYPE_OCI_INDEX;
    else if (parsed.config !== undefined && Array.isArray(parsed.layers)) mediaType = MEDIA_TYPE_OCI_MANIFEST;
  }
  if (mediaType !== undefined && MANIFEST_MEDIA_TYPES.includes(mediaType)) return mediaType;
  const shown = mediaType ?? (header || `schemaVersion ${String(parsed.schemaVersion)}`);
  throw new HullError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${what}: unsupported manifest media type ${shown}; hull reads OCI and Docker schema 2 images (schema 1 is deprecated and removed from Docker too)`,
  );
}

export class RegistryClient {
  readonly domain: string;
  /** `http://127.0.0.1:5000` or `https://registry-1.docker.io`. */
  readonly baseUrl: string;
  private credentials: Credentials | undefined;
  private readonly userAgent: string;
  private readonly tokens = new TokenCache();
  /** The last challenge the registry sent; reused so later requests authenticate up front. */
  private challenge: Challenge | undefined;

  constructor(opts: RegistryClientOptions) {
    this.domain = opts.domain;
    const plain = opts.insecure ?? (isLoopbackDomain(opts.domain) || isInsecureRegistry(opts.domain));
    this.baseUrl = `${plain ? 'http' : 'https'}://${apiHost(opts.domain)}`;
    this.credentials = opts.credentials;
    this.userAgent = opts.userAgent;
  }

  /** Check the registry speaks the v2 API. A 401 counts: the registry is there, it wants credentials. */
  async ping(signal?: AbortSignal): Promise<void> {
    const url = this.url('/v2/');
    const res = await this.request({ method: 'GET', url, scopes: [], idempotent: true, signal });
    if (res.ok || res.status === 401) {
      await res.body?.cancel();
      return;
    }
    throw await this.unexpected(res, 'GET', url);
  }

  /**
   * Verify credentials against `/v2/` (directly for Basic, via the token realm for Bearer), and keep
   * them for later requests on success. Fails with UNAUTHORIZED when the registry refuses them.
   */
  async login(username: string, password: string): Promise<void> {
    const previous = { credentials: this.credentials, challenge: this.challenge };
    this.credentials = { username, password };
    this.challenge = undefined;
    try {
      const url = this.url('/v2/');
      const res = await this.request({ method: 'GET', url, scopes: [], idempotent: true });
      if (res.status === 401) {
        await res.body?.cancel();
        throw new HullError('UNAUTHORIZED', `unauthorized: incorrect username or password for ${this.domain}`);
      }
      if (!res.ok) throw await this.unexpected(res, 'GET', url);
      await res.body?.cancel();
    } catch (e) {
      this.credentials = previous.credentials;
      this.challenge = previous.challenge;
      throw e;
    }
  }

  /**
   * Fetch a manifest or index by tag or digest, accepting the four OCI/Docker types. The returned
   * digest is always the sha256 of the bytes received; a registry header or a requested digest that
   * disagrees fails with DIGEST_MISMATCH.
   */
  async getManifest(repo: string, refOrDigest: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const byDigest = isDigest(refOrDigest);
    const name = `${familiarName({ domain: this.domain, path: repo })}${byDigest ? '@' : ':'}${refOrDigest}`;
    const url = this.url(`/v2/${repo}/manifests/${refOrDigest}`);
    const res = await this.request({
      method: 'GET',
      url,
      scopes: [pullScope(repo)],
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
      idempotent: true,
      signal,
    });
    if (res.status === 404) {
      const errors = await readErrors(res);
      if (errors.some((e) => e.code === 'NAME_UNKNOWN')) {
        throw new HullError('MANIFEST_UNKNOWN', `repository ${familiarName({ domain: this.domain, path: repo })} not found: ${describeErrors(errors)}`);
      }
      throw new HullError('MANIFEST_UNKNOWN', `manifest for ${name} not found: ${errors.length ? describeErrors(errors) : 'manifest unknown'}`);
    }
    if (res.status === 401 || res.status === 403) throw await this.pullDenied(res, repo);
    if (!res.ok) throw await this.unexpected(res, 'GET', url);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      throw new HullError('REGISTRY_ERROR', `manifest for ${name} is ${declared} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST_BYTES) {
      throw new HullError('REGISTRY_ERROR', `manifest for ${name} is ${body.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const digest = sha256Of(body);
    if (byDigest) verifyDigest(refOrDigest, body, `manifest for ${name}`);
    const header = res.headers.get('docker-content-digest');
    if (header && isDigest(header) && header !== digest) {
      throw new HullError('DIGEST_MISMATCH', `manifest for ${name}: registry says ${header} but the content is ${digest}`);
    }
    return { mediaType: manifestMediaType(res.headers.get('content-type'), body, `manifest for ${name}`), digest, body };
  }

  /**
   * Stream a blob, from `offset` when given (resuming a download). Redirects to storage backends
   * are followed, and fetch drops our Authorization header when they leave the registry's origin.
   */
  async fetchBlob(repo: string, digest: Digest, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<FetchedBlob> {
    const url = this.url(`/v2/${repo}/blobs/${digest}`);
    const offset = opts.offset ?? 0;
    const get = (range: boolean) =>
      this.request({
        method: 'GET',
        url,
        scopes: [pullScope(repo)],
        headers: range ? { Range: `bytes=${offset}-` } : {},
        idempotent: true,
        signal: opts.signal,
      });
    let res = await get(offset > 0);
    if (res.status === 416) {
      // Nothing past the offset (or a registry confused by it): start over rather than fail.
      await res.body?.cancel();
      res = await get(false);
    }
    if (res.status === 404) {
      const errors = await readErrors(res);
      throw new HullError('NOT_FOUND', `blob ${digest} not found in ${this.domain}/${repo}: ${errors.length ? describeErrors(errors) : 'blob unknown'}`);
    }
    if (res.status === 401 || res.status === 403) throw await this.pullDenied(res, repo);
    if (!res.ok || !res.body) throw await this.unexpected(res, 'GET', url);
    const length = res.headers.get('content-length');
    // undici types bodies as ReadableStream<any>; HTTP bodies are bytes.
    const body = res.body as ReadableStream<Uint8Array>;
    if (res.status === 206) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      const start = range ? Number(range[1]) : offset;
      const total = range && range[2] !== '*' ? Number(range[2]) : length !== null ? start + Number(length) : undefined;
      return { body, size: total, offset: start };
    }
    return { body, size: length !== null ? Number(length) : undefined, offset: 0 };
  }

  async blobExists(repo: string, digest: Digest, signal?: AbortSignal): Promise<boolean> {
    const url = this.url(`/v2/${repo}/blobs/${digest}`);
    const res = await this.request({ method: 'HEAD', url, scopes: [pullScope(repo)], idempotent: true, signal });
    if (res.ok) return true;
    if (res.status === 404) return false;
    if (res.status === 401 || res.status === 403) throw await this.authError(res, repo);
    throw await this.unexpected(res, 'HEAD', url);
  }

  /**
   * Ask the registry to link a blob it already has under `fromRepo` into `repo` (no upload).
   * False when it declined (202 opens an upload session instead, which we cancel).
   */
  async mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
    const url = this.url(`/v2/${repo}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', fromRepo);
    const res = await this.request({ method: 'POST', url, scopes: [pushScope(repo), pullScope(fromRepo)], signal });
    if (res.status === 201) {
      await res.body?.cancel();
      return true;
    }
    if (res.status === 202) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (location) {
        // Best effort: an abandoned session only costs the registry a temp dir until its purge.
        await this.request({ method: 'DELETE', url: new URL(location, res.url), scopes: [pushScope(repo)], signal })
          .then((r) => r.body?.cancel())
          .catch(() => undefined);
      }
      return false;
    }
    if (res.status === 401 || res.status === 403) throw await this.authError(res, repo);
    throw await this.unexpected(res, 'POST', url);
  }

  /**
   * Upload a blob monolithically: POST opens a session, one streaming PUT `?digest=` completes it.
   * `body` is called once per attempt; the whole upload is retried on transient failures.
   */
  async uploadBlob(repo: string, digest: Digest, size: number, body: () => Readable | Buffer, signal?: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.uploadOnce(repo, digest, size, body, signal);
        return;
      } catch (e) {
        if (attempt >= MAX_TRIES || !isHullError(e) || !transientErrors.has(e) || signal?.aborted) throw e;
        await sleep(BACKOFF_MS[attempt - 1] ?? 1000, undefined, { signal });
      }
    }
  }

  private async uploadOnce(repo: string, digest: Digest, size: number, body: () => Readable | Buffer, signal?: AbortSignal): Promise<void> {
    const start = this.url(`/v2/${repo}/blobs/uploads/`);
    const opened = await this.request({ method: 'POST', url: start, scopes: [pushScope(repo)], signal });
    if (opened.status === 401 || opened.status === 403) throw await this.authError(opened, repo);
    const location = opened.headers.get('location');
    if (opened.status !== 202 || !location) throw await this.unexpected(opened, 'POST', start);
    await opened.body?.cancel();
    const put = new URL(location, opened.url);
    put.searchParams.set('digest', digest);
    const res = await this.request({
      method: 'PUT',
      url: put,
      scopes: [pushScope(repo)],
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body,
      signal,
    });
    if (res.status === 400) {
      const errors = await readErrors(res);
      const what = `upload of blob ${digest} to ${this.domain}/${repo} failed`;
      if (errors.some((e) => e.code === 'DIGEST_INVALID')) throw new HullError('DIGEST_MISMATCH', `${what}: ${describeErrors(errors)}`);
      throw new HullError('REGISTRY_ERROR', `${what}: ${errors.length ? describeErrors(errors) : '400 Bad Request'}`);
    }
    if (res.status === 401 || res.status === 403) throw await this.authError(res, repo);
    if (res.status !== 201) throw await this.unexpected(res, 'PUT', put);
    await res.body?.cancel();
    const stored = res.headers.get('docker-content-digest');
    if (stored && stored !== digest) {
      throw new HullError('DIGEST_MISMATCH', `upload of blob ${digest} to ${this.domain}/${repo}: the registry stored it as ${stored}`);
    }
  }

  /** Store a manifest under a tag or its digest; returns the digest the registry filed it under. */
  async putManifest(repo: string, ref: string, mediaType: string, body: Buffer, signal?: AbortSignal): Promise<Digest> {
    const digest = sha256Of(body);
    if (isDigest(ref)) verifyDigest(ref, body, `manifest for ${this.domain}/${repo}@${ref}`);
    const url = this.url(`/v2/${repo}/manifests/${ref}`);
    const res = await this.request({
      method: 'PUT',
      url,
      scopes: [pushScope(repo)],
      headers: { 'Content-Type': mediaType },
      body: () => body,
      idempotent: true,
      signal,
    });
    if (res.status === 401 || res.status === 403) throw await this.authError(res, repo);
    if (res.status === 400 || res.status === 404) {
      const errors = await readErrors(res);
      throw new HullError('REGISTRY_ERROR', `pushing manifest ${this.domain}/${repo}:${ref} failed: ${errors.length ? describeErrors(errors) : `${res.status} ${res.statusText}`}`);
    }
    if (res.status !== 201 && res.status !== 200) throw await this.unexpected(res, 'PUT', url);
    await res.body?.cancel();
    const stored = res.headers.get('docker-content-digest');
    if (stored && isDigest(stored) && stored !== digest) {
      throw new HullError('DIGEST_MISMATCH', `manifest ${this.domain}/${repo}:${ref}: the registry stored it as ${stored}, expected ${digest}`);
    }
    return digest;
  }

  private url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /** Send with auth, retrying transient failures of idempotent requests a bounded number of times. */
  private async request(o: RequestOptions): Promise<Response> {
    const tries = o.idempotent ? MAX_TRIES : 1;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.authorizedFetch(o);
      } catch (e) {
        if (o.signal?.aborted || isHullError(e)) throw e;
        const transient = isTransientNetworkError(e);
        if (transient && attempt < tries) {
          await sleep(BACKOFF_MS[attempt - 1] ?? 1000, undefined, { signal: o.signal });
          continue;
        }
        const err = new HullError('REGISTRY_UNREACHABLE', `registry ${this.domain} is unreachable: ${o.method} ${o.url.href}: ${networkMessage(e)}`, { cause: e });
        if (transient) transientErrors.add(err);
        throw err;
      }
      if (RETRY_STATUS.has(res.status) && attempt < tries) {
        await res.body?.cancel();
        await sleep(BACKOFF_MS[attempt - 1] ?? 1000, undefined, { signal: o.signal });
        continue;
      }
      return res;
    }
  }

  /**
   * One request, answering a 401 challenge once: Basic sends the credentials, Bearer fetches a token
   * for the request's scopes. Later requests reuse the challenge and authenticate up front.
   */
  private async authorizedFetch(o: RequestOptions): Promise<Response> {
    const sentAuth = await this.authorization(o);
    const res = await this.send(o, sentAuth);
    if (res.status !== 401) return res;
    const challenge = pickChallenge(parseWwwAuthenticate(res.headers.get('www-authenticate') ?? ''));
    if (!challenge) return res;
    const basicRejected = challenge.scheme === 'basic' && (!this.credentials || sentAuth?.startsWith('Basic '));
    this.challenge = challenge;
    if (basicRejected) return res;
    // A cached token the registry refuses (expired early, registry restarted) is replaced once.
    if (challenge.scheme === 'bearer') this.tokens.invalidate(this.tokenRequest(o));
    await res.body?.cancel();
    return this.send(o, await this.authorization(o));
  }

  private tokenRequest(o: RequestOptions) {
    const challenge = this.challenge as Challenge;
    // /v2/ has no scope of its own; a scope named in the challenge is what the registry wants.
    const scopes = o.scopes.length > 0 ? o.scopes : (challenge.params['scope']?.split(' ').filter(Boolean) ?? []);
    return { challenge, scopes, credentials: this.credentials, userAgent: this.userAgent, domain: this.domain, signal: o.signal };
  }

  private async authorization(o: RequestOptions): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return this.credentials ? basicAuthorization(this.credentials) : undefined;
    if (this.challenge.scheme === 'bearer') return `Bearer ${await this.tokens.get(this.tokenRequest(o))}`;
    return undefined;
  }

  private send(o: RequestOptions, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...o.headers };
    // Credentials are for the registry only, not for upload URLs on other hosts it may hand out.
    if (authorization && o.url.origin === new URL(this.baseUrl).origin) headers['Authorization'] = authorization;
    const body = o.body?.();
    return fetch(o.url, {
      method: o.method,
      headers,
      body: body ?? null,
      ...(body ? { duplex: 'half' as const } : {}),
      redirect: 'follow',
      signal: o.signal ?? null,
    });
  }

  /** UNAUTHORIZED in words that say what to do: no credentials, wrong ones, or not allowed. */
  private async authError(res: Response, repo: string): Promise<HullError> {
    const errors = await readErrors(res);
    const said = errors.length ? describeErrors(errors) : res.status === 403 ? 'denied: requested access to the resource is denied' : 'unauthorized: authentication required';
    if (this.challenge?.scheme === 'basic' && res.status === 401) {
      if (!this.credentials) return new HullError('UNAUTHORIZED', `no basic auth credentials for ${this.domain}: run 'hull login ${this.domain}'`);
      return new HullError('UNAUTHORIZED', `unauthorized: incorrect username or password for ${this.domain}`);
    }
    return new HullError('UNAUTHORIZED', `${said} (${this.domain}/${repo})`);
  }

  /** Docker's wording for a pull the registry refuses: it cannot tell "missing" from "private". */
  private async pullDenied(res: Response, repo: string): Promise<HullError> {
    if (this.challenge?.scheme === 'basic' && res.status === 401) return this.authError(res, repo);
    const errors = await readErrors(res);
    const said = errors.length ? describeErrors(errors) : 'denied: requested access to the resource is denied';
    return new HullError(
      'UNAUTHORIZED',
      `pull access denied for ${familiarName({ domain: this.domain, path: repo })}, repository does not exist or may require 'docker login': ${said}`,
    );
  }

  private async unexpected(res: Response, method: string, url: URL): Promise<HullError> {
    const errors = await readErrors(res);
    const err = new HullError(
      'REGISTRY_ERROR',
      `${method} ${url.href}: unexpected status ${res.status} ${res.statusText}${errors.length ? `: ${describeErrors(errors)}` : ''}`,
    );
    if (RETRY_STATUS.has(res.status)) transientErrors.add(err);
    return err;
  }
}

function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}
