/**
 * The frames `hull exec` and the guest init exchange on a hull.execN port (protocol in
 * native/vm/guest-exec.c): a type byte, the 4-byte big-endian session id, a 4-byte big-endian
 * length, the payload. Every frame carries its session's id in both directions, so bytes an
 * earlier session left on the slot (in QEMU, in the guest's queue) are never taken for this
 * one's: the reader skips everything before the first frame of its own id.
 */
import { randomInt } from 'node:crypto';

export const FRAME_HEAD = 9;
/** The host splits stdin into frames no larger than this (the guest's buffer holds far more). */
export const MAX_DATA_FRAME = 16 * 1024;
/** The frame types the guest sends: what a resynchronising reader accepts as a frame start. */
const GUEST_TYPES = new Set(['S', 'F', 'O', 'E', 'X']);

export interface Frame {
  type: string;
  data: Buffer;
}

/** A fresh session id: random, so no earlier session on the slot can have used it. Never 0. */
export function newSessionId(): number {
  return randomInt(1, 0xffffffff);
}

export function encodeFrame(type: string, id: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const head = Buffer.alloc(FRAME_HEAD);
  head.write(type, 0, 1, 'latin1');
  head.writeUInt32BE(id, 1);
  head.writeUInt32BE(body.length, 5);
  return Buffer.concat([head, body]);
}

/** `data` as I frames of at most MAX_DATA_FRAME bytes each. */
export function stdinFrames(id: number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += MAX_DATA_FRAME) out.push(encodeFrame('I', id, data.subarray(off, off + MAX_DATA_FRAME)));
  return out;
}

/**
 * Collects bytes from the port and hands out the complete frames of session `id` in them.
 * Until the first of them, bytes are skipped up to a guest frame head with this id: what an
 * earlier session left (even a frame cut in half) never reaches the caller.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private synced = false;
  /** Bytes skipped before this session's first frame (diagnostics and tests). */
  skipped = 0;

  constructor(private readonly id: number) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.synced) this.sync();
    const frames: Frame[] = [];
    while (this.synced && this.buf.length >= FRAME_HEAD) {
      const len = this.buf.readUInt32BE(5);
      if (this.buf.length < FRAME_HEAD + len) break;
      // After the first frame of this session the guest sends no other session's frames; a
      // stray one is dropped all the same.
      if (this.buf.readUInt32BE(1) === this.id) frames.push({ type: this.buf.toString('latin1', 0, 1), data: this.buf.subarray(FRAME_HEAD, FRAME_HEAD + len) });
      this.buf = this.buf.subarray(FRAME_HEAD + len);
    }
    return frames;
  }

  private sync(): void {
    let off = 0;
    for (; off + 5 <= this.buf.length; off++) {
      if (GUEST_TYPES.has(String.fromCharCode(this.buf[off]!)) && this.buf.readUInt32BE(off + 1) === this.id) {
        this.synced = true;
        break;
      }
    }
    // Without a match, the last 4 bytes may be the start of one.
    if (!this.synced) off = Math.max(0, this.buf.length - 4);
    this.skipped += off;
    this.buf = this.buf.subarray(off);
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

export function requestFrame(id: number, r: ExecRequestFields): Buffer {
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
  return encodeFrame('P', id, Buffer.concat(fields.map((f) => Buffer.from(`${f}\0`))));
}

/** An X frame's text as an exit status: `exit N` → N, `signal N` → 128 + N. */
export function exitStatusOf(text: string): number {
  const m = /^(exit|signal) (\d+)$/.exec(text.trim());
  if (!m) return 255;
  return m[1] === 'exit' ? Number(m[2]) : 128 + Number(m[2]);
}
