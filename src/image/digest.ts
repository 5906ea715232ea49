import { createHash } from 'node:crypto';
import { HullError } from '../util/errors.js';

declare const digestBrand: unique symbol;
/** `sha256:<64 hex>` — the only algorithm OCI images use in practice. */
export type Digest = string & { readonly [digestBrand]: true };

declare const imageIdBrand: unique symbol;
/** An image id is the digest of its config blob, as in Docker. */
export type ImageId = Digest & { readonly [imageIdBrand]: true };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw new HullError('INVALID_ARGUMENT', `invalid digest "${s}": expected sha256:<64 lowercase hex>`);
  return s;
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256Of(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

export function asImageId(d: Digest): ImageId {
  return d as ImageId;
}

/** Docker's short id: the first 12 hex characters. */
export function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}
