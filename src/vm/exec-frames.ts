/**
 * The frames `hull exec` and the guest init exchange on a hull.execN port (protocol in
 * native/vm/guest-exec.c): a type byte, a 4-byte big-endian length, the payload.
 */

export const FRAME_HEAD = 5;
/** The host splits stdin into frames no larger than this (the guest's buffer holds far more). */
export const MAX_DATA_FRAME = 16 * 1024;

export interface Frame {
  type: string;
  data: Buffer;
}

export function encodeFrame(type: string, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const head = Buffer.alloc(FRAME_HEAD);
  head.write(type, 0, 1, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** `data` as I frames of at most MAX_DATA_FRAME bytes each. */
export function stdinFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += MAX_DATA_FRAME) out.push(encodeFrame('I', data.subarray(off, off + MAX_DATA_FRAME)));
  return out;
}

/** Collects bytes from the port and hands out the complete frames in them. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.buf.length >= FRAME_HEAD) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < FRAME_HEAD + len) break;
      frames.push({ type: this.buf.toString('latin1', 0, 1), data: this.buf.subarray(FRAME_HEAD, FRAME_HEAD + len) });
      this.buf = this.buf.subarray(FRAME_HEAD + len);
    }
    return frames;
  }
}

/** The request (P frame) fields of a process, as guest-exec.c parses them. */
export interface ExecRequestFields {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  tty: boolean;
  stdin: boolean;
  detach: boolean;
  size?: { rows: number; cols: number };
}

export function requestFrame(r: ExecRequestFields): Buffer {
  const fields = [
    ...r.args.map((a) => `a${a}`),
    ...r.env.map((e) => `e${e}`),
    `c${r.cwd}`,
    `u${r.uid}`,
    `g${r.gid}`,
    ...r.additionalGids.map((g) => `G${g}`),
    `t${r.tty ? 1 : 0}`,
    `i${r.stdin ? 1 : 0}`,
    `d${r.detach ? 1 : 0}`,
    ...(r.size ? [`w${r.size.rows} ${r.size.cols}`] : []),
  ];
  return encodeFrame('P', Buffer.concat(fields.map((f) => Buffer.from(`${f}\0`))));
}

/** An X frame's text as an exit status: `exit N` → N, `signal N` → 128 + N. */
export function exitStatusOf(text: string): number {
  const m = /^(exit|signal) (\d+)$/.exec(text.trim());
  if (!m) return 255;
  return m[1] === 'exit' ? Number(m[2]) : 128 + Number(m[2]);
}
