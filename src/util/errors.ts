/**
 * One error type for the whole engine. `code` is stable (scripts and the API match on it),
 * `message` says what went wrong and what to do, `status` is the HTTP status the Engine API
 * answers with. The CLI prints `hull: <message>` and exits 125, as Docker does for engine errors.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_REFERENCE'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_IN_USE'
  | 'MANIFEST_UNKNOWN'
  | 'PLATFORM_NOT_FOUND'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_ERROR'
  | 'UNAUTHORIZED'
  | 'DIGEST_MISMATCH'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'LAYER_UNSAFE'
  | 'ARCHIVE_INVALID'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'STATE_CORRUPT'
  | 'NOT_MODIFIED'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_IMPLEMENTED'
  | 'INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  INVALID_REFERENCE: 400,
  IMAGE_NOT_FOUND: 404,
  IMAGE_IN_USE: 409,
  MANIFEST_UNKNOWN: 404,
  PLATFORM_NOT_FOUND: 404,
  REGISTRY_UNREACHABLE: 502,
  REGISTRY_ERROR: 502,
  UNAUTHORIZED: 401,
  DIGEST_MISMATCH: 500,
  UNSUPPORTED_MEDIA_TYPE: 400,
  LAYER_UNSAFE: 500,
  ARCHIVE_INVALID: 400,
  CONFLICT: 409,
  NOT_FOUND: 404,
  STATE_CORRUPT: 500,
  NOT_MODIFIED: 304,
  METHOD_NOT_ALLOWED: 405,
  NOT_IMPLEMENTED: 501,
  INTERNAL: 500,
};

export class HullError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HullError';
    this.code = code;
    this.status = STATUS[code];
  }
}

export function isHullError(e: unknown, code?: ErrorCode): e is HullError {
  return e instanceof HullError && (code === undefined || e.code === code);
}

/** The message of any thrown value, for wrapping low-level errors into HullErrors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    // fetch() hides the useful part ("ECONNREFUSED 127.0.0.1:5000") in `cause`.
    if (cause instanceof Error && !e.message.includes(cause.message)) return `${e.message}: ${cause.message}`;
    return e.message;
  }
  return String(e);
}
