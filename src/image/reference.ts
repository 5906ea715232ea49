/**
 * Image references, normalised as Docker's distribution/reference does:
 *   busybox                -> docker.io/library/busybox:latest
 *   host:5000/a/b:tag@sha256:…  kept whole; a digest without a tag gets no default tag.
 * The grammar follows distribution/reference's regular expressions so that what Docker
 * accepts, hull accepts, and what Docker refuses, hull refuses with the same words.
 */
import { HullError } from '../util/errors.js';
import type { Digest } from './digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_TOTAL_MAX = 255;

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domainRe = new RegExp(`^(?:${domainName}|${ipv6})(?::[0-9]+)?$`);
const pathRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const anchoredIdRe = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host, e.g. `docker.io` or `127.0.0.1:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

function invalid(detail?: string): HullError {
  return new HullError('INVALID_REFERENCE', detail ? `invalid reference format: ${detail}` : 'invalid reference format');
}

function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = first;
    path = name.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  return { domain, path };
}

/** Parse and normalise a reference; throws INVALID_REFERENCE with Docker's wording. */
export function parseReference(input: string): Reference {
  if (input === '') throw invalid();
  if (anchoredIdRe.test(input)) {
    throw new HullError(
      'INVALID_REFERENCE',
      `invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw invalid();
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
      throw new HullError('INVALID_REFERENCE', `invalid digest "${digest}": only sha256 with 64 lowercase hex digits is supported`);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw invalid();
  }
  if (rest === '') throw invalid();
  if (rest.length > NAME_TOTAL_MAX) {
    throw new HullError('INVALID_REFERENCE', `invalid reference format: repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  }
  const { domain, path } = splitDomain(rest);
  if (!domainRe.test(domain)) throw invalid();
  if (!pathRe.test(path)) {
    if (pathRe.test(path.toLowerCase())) throw invalid(`repository name (${path}) must be lowercase`);
    throw invalid();
  }
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest as Digest;
  return ref;
}

/** Parse and add the `latest` tag when neither tag nor digest is given (Docker's TagNameOnly). */
export function parseNormalizedTagged(input: string): Reference {
  const ref = parseReference(input);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest';
  return ref;
}

/** `domain/path` — the repository name in full. */
export function repositoryName(ref: Pick<Reference, 'domain' | 'path'>): string {
  return `${ref.domain}/${ref.path}`;
}

/** Full canonical string: `docker.io/library/busybox:latest`, `host/a@sha256:…`. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * The short, familiar form Docker prints in `docker images` and RepoTags:
 * `busybox:latest` for official images, `user/app:1` for Docker Hub, full name otherwise.
 */
export function familiarName(ref: Pick<Reference, 'domain' | 'path'>): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_PREFIX) ? ref.path.slice(OFFICIAL_PREFIX.length) : ref.path;
}

export function familiarString(ref: Reference): string {
  let s = familiarName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** Loopback registries speak plain HTTP by default, as in Docker. */
export function isLoopbackDomain(domain: string): boolean {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : domain.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
