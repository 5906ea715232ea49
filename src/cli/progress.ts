/**
 * Renders image progress events as Docker does: on a terminal, one line per layer redrawn in
 * place with a progress bar; when piped, one plain line per status change (no bars); with -q,
 * nothing.
 */
import type { ProgressEvent, ProgressSink } from '../image/progress.js';
import { humanSize } from '../util/units.js';

const BAR_WIDTH = 50;
const REDRAW_MS = 100;

export type ProgressMode = 'tty' | 'plain' | 'quiet';

export function progressMode(stream: NodeJS.WriteStream, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  return stream.isTTY ? 'tty' : 'plain';
}

function bar(current: number, total: number): string {
  if (total <= 0) return `${humanSize(current)}`;
  const filled = Math.min(BAR_WIDTH, Math.floor((current / total) * BAR_WIDTH));
  const body = filled > 0 ? `${'='.repeat(filled - 1)}>` : '';
  return `[${body.padEnd(BAR_WIDTH, ' ')}]  ${humanSize(current)}/${humanSize(total)}`;
}

function line(e: ProgressEvent): string {
  const text = e.current !== undefined && e.total !== undefined ? `${e.status} ${bar(e.current, e.total)}` : e.status;
  return e.id ? `${e.id}: ${text}` : text;
}

export function createProgress(stream: NodeJS.WriteStream, mode: ProgressMode): ProgressSink {
  if (mode === 'quiet') return () => undefined;
  if (mode === 'plain') {
    // As Docker's jsonmessage: without a terminal, events that carry a progress bar are dropped.
    return (e) => {
      if (e.current !== undefined) return;
      stream.write(`${e.id ? `${e.id}: ` : ''}${e.status}\n`);
    };
  }
  const order: string[] = [];
  const lastDraw = new Map<string, number>();
  return (e) => {
    // Byte counts arrive per network chunk; a terminal needs ten frames a second at most.
    if (e.id !== undefined && e.current !== undefined && e.current !== e.total) {
      const now = Date.now();
      if (now - (lastDraw.get(e.id) ?? 0) < REDRAW_MS) return;
      lastDraw.set(e.id, now);
    }
    if (e.id === undefined) {
      stream.write(`${line(e)}\n`);
      return;
    }
    const idx = order.indexOf(e.id);
    if (idx === -1) {
      order.push(e.id);
      stream.write(`${line(e)}\n`);
      return;
    }
    const up = order.length - idx;
    // Move up to the layer's line, rewrite it, come back down.
    stream.write(`\x1b[${up}A\r\x1b[2K${line(e)}\r\x1b[${up}B`);
  };
}
