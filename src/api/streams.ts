/** Writables over a client connection: stdcopy-framed or raw, back-pressured by the connection. */
import { Writable } from 'node:stream';
import { drainedOrClosed } from '../util/drain.js';
import { hijack, stdcopyFrame, type Ctx, type Hijacked } from './http.js';

/** Each write becomes one stdcopy frame of `stream` (1 stdout, 2 stderr) on `out`. */
export function framedWriter(out: Writable, stream: 1 | 2): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!out.writable) return cb();
      if (out.write(stdcopyFrame(stream, chunk))) cb();
      else out.once('drain', () => cb());
    },
  });
}

/** Bytes passed through to `out` unchanged (a TTY's single stream). */
export function rawWriter(out: Writable): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!out.writable) return cb();
      if (out.write(chunk)) cb();
      else out.once('drain', () => cb());
    },
  });
}

/** Accepts and drops everything (a stream the client did not ask for). */
export function nullWriter(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/** Write and wait for the connection to take it. */
export function writeAwait(out: Writable, data: Buffer | string): Promise<void> {
  if (!out.writable) return Promise.resolve();
  if (out.write(data)) return Promise.resolve();
  return drainedOrClosed(out);
}

/**
 * Hijack the connection for a container's or an exec's stdio (attach, exec start): stdout and
 * stderr writers for the streams the client asked for (the others are dropped), stdcopy-framed
 * without a TTY, raw with one.
 */
export function hijackStdio(ctx: Ctx, tty: boolean, want: { stdout: boolean; stderr: boolean }): { conn: Hijacked; stdout: Writable; stderr: Writable } {
  const conn = hijack(ctx, !tty);
  const writer = (on: boolean, stream: 1 | 2): Writable => (!on ? nullWriter() : tty ? rawWriter(conn.out) : framedWriter(conn.out, stream));
  return { conn, stdout: writer(want.stdout, 1), stderr: writer(want.stderr, 2) };
}
