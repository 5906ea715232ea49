/**
 * Docker's detach keys on an attached terminal: ctrl-p ctrl-q by default. The sequence is held
 * back while it might be starting; a full match detaches, anything else passes through.
 */
import { Transform } from 'node:stream';
import { HullError } from './errors.js';

/** `ctrl-p,ctrl-q` → bytes [0x10, 0x11]; letters, `ctrl-<a-z|@|[|\\|]|^|_>` and `,` separators. */
export function parseDetachKeys(spec: string): number[] {
  return spec.split(',').map((k) => {
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (m) return m[1]!.charCodeAt(0) & 0x1f;
    if (k.length === 1) return k.charCodeAt(0);
    throw new HullError('INVALID_ARGUMENT', `Unknown character: '${k}'`);
  });
}

export function detachFilter(keys: number[], onDetach: () => void): Transform {
  let matched = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const out: number[] = [];
      for (const b of chunk) {
        if (b === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            matched = 0;
            onDetach();
            cb(null, Buffer.from(out));
            return;
          }
          continue;
        }
        // A partial match that fails: the held-back bytes were ordinary input.
        out.push(...keys.slice(0, matched));
        matched = 0;
        if (b === keys[0]) matched = 1;
        else out.push(b);
      }
      cb(null, Buffer.from(out));
    },
  });
}
