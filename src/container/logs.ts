/**
 * Reading a container's json-file log (as the monitor writes it, rotated as log, log.1, …):
 * `--tail`, `--since`, `--until`, `--timestamps`, and following new lines until the
 * container stops.
 */
import { existsSync, watch } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';

export interface LogLine {
  stream: 'stdout' | 'stderr';
  time: string;
  log: string;
}

export interface LogQuery {
  tail?: number;
  /** Epoch milliseconds. */
  since?: number;
  until?: number;
}

function parse(line: string): LogLine | undefined {
  try {
    const v = JSON.parse(line) as LogLine;
    return typeof v.log === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Nanosecond timestamps compared at millisecond precision (what --since/--until accept). */
function inRange(l: LogLine, q: LogQuery): boolean {
  const t = Date.parse(l.time);
  if (q.since !== undefined && t < q.since) return false;
  if (q.until !== undefined && t > q.until) return false;
  return true;
}

/** Every file of the log, oldest first. */
function files(path: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) rotated.push(`${path}.${i}`);
  return [...rotated.reverse(), ...(existsSync(path) ? [path] : [])];
}

/**
 * The complete lines of a log chunk and how many bytes they span: a line the monitor is still
 * writing (no newline yet) is left for the next read instead of being dropped.
 */
function completeLines(buf: Buffer): { raws: string[]; bytes: number } {
  const end = buf.lastIndexOf(0x0a) + 1;
  return { raws: buf.subarray(0, end).toString('utf8').split('\n').filter((r) => r !== ''), bytes: end };
}

export interface LogRead {
  lines: LogLine[];
  /** Bytes of the live file read: where a follower goes on, so no line is emitted twice. */
  liveOffset: number;
}

export async function readLogs(path: string, q: LogQuery): Promise<LogRead> {
  const lines: LogLine[] = [];
  let liveOffset = 0;
  for (const f of files(path)) {
    const { raws, bytes } = completeLines(await readFile(f).catch(() => Buffer.alloc(0)));
    if (f === path) liveOffset = bytes;
    for (const raw of raws) {
      const l = parse(raw);
      if (l && inRange(l, q)) lines.push(l);
    }
  }
  return { lines: q.tail !== undefined && q.tail >= 0 ? lines.slice(Math.max(0, lines.length - q.tail)) : lines, liveOffset };
}

/**
 * Lines appended after `offset` bytes of the live file, until `stopped()` says the container is
 * done and the file has been drained. Rotation while following restarts at the new file.
 */
export async function followLogs(path: string, startOffset: number, q: LogQuery, emit: (l: LogLine) => void, stopped: () => boolean, signal?: AbortSignal): Promise<void> {
  let offset = startOffset;
  const readMore = async (): Promise<void> => {
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0; // rotated: the live file starts again
    if (size === offset) return;
    const chunk = Buffer.alloc(size - offset);
    const fh = await open(path, 'r');
    let got = 0;
    try {
      got = (await fh.read(chunk, 0, chunk.length, offset)).bytesRead;
    } finally {
      await fh.close();
    }
    const { raws, bytes } = completeLines(chunk.subarray(0, got));
    for (const raw of raws) {
      const l = parse(raw);
      if (l && inRange(l, q)) emit(l);
    }
    offset += bytes;
  };
  const watcher = existsSync(path) ? watch(path) : undefined;
  try {
    for (;;) {
      if (signal?.aborted) return;
      await readMore();
      if (stopped()) {
        await readMore();
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 250);
        watcher?.once('change', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  } finally {
    watcher?.close();
  }
}
