/**
 * Reading a container's json-file log (as the monitor writes it, rotated as log, log.1, …):
 * `--tail`, `--since`, `--until`, `--timestamps`, and following new lines until the
 * container stops.
 */
import { createReadStream, existsSync, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';

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

export async function readLogs(path: string, q: LogQuery): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  for (const f of files(path)) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      const l = parse(raw);
      if (l && inRange(l, q)) lines.push(l);
    }
  }
  return q.tail !== undefined && q.tail >= 0 ? lines.slice(Math.max(0, lines.length - q.tail)) : lines;
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
    const rl = createInterface({ input: createReadStream(path, { start: offset, end: size - 1 }) });
    let consumed = 0;
    for await (const raw of rl) {
      consumed += Buffer.byteLength(raw) + 1;
      const l = parse(raw);
      if (l && inRange(l, q)) emit(l);
    }
    offset += Math.min(consumed, size - offset);
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
