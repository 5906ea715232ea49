/**
 * Registry authentication as the Distribution spec and Docker Hub practise it: a 401 carries a
 * `WWW-Authenticate` challenge, either Basic (send the credentials on every request) or Bearer
 * (trade credentials for a short-lived token scoped to `repository:<name>:<actions>` at `realm`).
 */
import { createHash } from 'node:crypto';
import { HullError, messageOf } from '../../util/errors.js';
import type { Credentials } from './credentials.js';

export interface Challenge {
  /** Lower-case scheme: `basic` or `bearer` (others are kept so callers can refuse them by name). */
  scheme: string;
  /** Parameters with lower-case names; values unquoted and unescaped. */
  params: Record<string, string>;
}

const TOKEN_CHARS = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse a `WWW-Authenticate` value (RFC 9110 §11.6.1): one or more challenges, each a scheme and
 * comma-separated `name=value` pairs where values may be quoted strings containing commas and `\"`.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHARS.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  // Servers write URLs unquoted (`realm=http://…`) although RFC tokens exclude ':' and '/'.
  const readBare = (): string => {
    const start = i;
    while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    let value = '';
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote (or end of input for a truncated header)
    return value;
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const token = readToken();
    if (token === '') {
      i++; // stray character: skip rather than loop forever
      continue;
    }
    skipSpace();
    if (header[i] === '=') {
      i++;
      skipSpace();
      const value = header[i] === '"' ? readQuoted() : readBare();
      // A parameter before any scheme belongs to nothing; drop it.
      if (current) current.params[token.toLowerCase()] = value;
      continue;
    }
    current = { scheme: token.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The challenge to answer: Bearer when offered (it works for anonymous pulls too), else Basic. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Docker's client assumes 60 s when the server omits expires_in, and so do we. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Renew a little early so a token does not expire between our check and the registry's. */
const EXPIRY_SKEW_MS = 5_000;

export interface TokenRequest {
  challenge: Challenge;
  scopes: string[];
  credentials?: Credentials | undefined;
  userAgent: string;
  /** Registry host, only for error messages. */
  domain: string;
  signal?: AbortSignal | undefined;
}

/** Bearer tokens per (realm, service, scopes, user), reused until shortly before they expire. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  /** Parallel layer downloads share one token request instead of each sending their own. */
  private readonly pending = new Map<string, Promise<string>>();

  private key(req: TokenRequest): string {
    const { realm = '', service = '' } = req.challenge.params;
    // Keyed by the whole credential (hashed) so a re-login with another password never reuses a token.
    const who = req.credentials ? createHash('sha256').update(basicAuthorization(req.credentials)).digest('hex') : '';
    return JSON.stringify([realm, service, [...req.scopes].sort(), who]);
  }

  /** A valid token for the request, fetching a new one when none is cached. */
  async get(req: TokenRequest, now = Date.now()): Promise<string> {
    const key = this.key(req);
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt - EXPIRY_SKEW_MS > now) return hit.token;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const request = fetchToken(req)
      .then((fresh) => {
        this.tokens.set(key, { token: fresh.token, expiresAt: now + fresh.expiresIn * 1000 });
        return fresh.token;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, request);
    return request;
  }

  /** Forget a token the registry refused (revoked, or issued before a login changed). */
  invalidate(req: TokenRequest): void {
    this.tokens.delete(this.key(req));
  }
}

interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  details?: string;
  errors?: { code?: string; message?: string }[];
}

/** GET `realm?service=…&scope=…` (Basic-authenticated when we have credentials), as Docker does. */
export async function fetchToken(req: TokenRequest): Promise<{ token: string; expiresIn: number }> {
  const realm = req.challenge.params['realm'];
  if (!realm) throw new HullError('REGISTRY_ERROR', `registry ${req.domain} sent a Bearer challenge without a realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new HullError('REGISTRY_ERROR', `registry ${req.domain} sent an invalid token realm "${realm}"`);
  }
  const service = req.challenge.params['service'];
  if (service) url.searchParams.set('service', service);
  for (const scope of req.scopes) url.searchParams.append('scope', scope);
  if (req.credentials) url.searchParams.set('account', req.credentials.username);
  const headers: Record<string, string> = { 'User-Agent': req.userAgent, Accept: 'application/json' };
  if (req.credentials) headers['Authorization'] = basicAuthorization(req.credentials);

  let res: Response;
  try {
    res = await fetch(url, { headers, signal: req.signal ?? null });
  } catch (e) {
    if (req.signal?.aborted) throw e;
    throw new HullError('REGISTRY_UNREACHABLE', `authorization server for ${req.domain} is unreachable: GET ${url.href}: ${networkMessage(e)}`, { cause: e });
  }
  const text = await res.text();
  let body: TokenResponse = {};
  try {
    body = JSON.parse(text) as TokenResponse;
  } catch {
    // Non-JSON error pages are reported by status below.
  }
  if (res.status === 401 || res.status === 403) {
    const detail = body.details ?? body.errors?.[0]?.message;
    const why = req.credentials ? 'incorrect username or password' : 'authentication required';
    throw new HullError('UNAUTHORIZED', `unauthorized: ${detail && detail !== why ? `${why} (${detail})` : why}`);
  }
  if (!res.ok) {
    throw new HullError('REGISTRY_ERROR', `getting a token for ${req.domain} from ${url.origin}${url.pathname} failed: ${res.status} ${res.statusText}`);
  }
  const token = body.token || body.access_token;
  if (!token) throw new HullError('REGISTRY_ERROR', `token server ${url.origin}${url.pathname} answered without a token`);
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  return { token, expiresIn };
}

/**
 * The useful part of a fetch failure. undici throws `TypeError: fetch failed` with the socket error
 * as `cause`; connecting to a name with several addresses nests an AggregateError with no message.
 */
export function networkMessage(e: unknown): string {
  const cause = e instanceof TypeError && e.message === 'fetch failed' ? (e as { cause?: unknown }).cause : undefined;
  const inner = cause ?? e;
  if (inner instanceof AggregateError && inner.message === '') {
    return [...new Set(inner.errors.map((x) => messageOf(x)))].join('; ');
  }
  return messageOf(inner);
}
