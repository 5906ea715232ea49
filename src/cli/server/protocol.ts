/**
 * The wire format between the native client (native/client/hull-client.c), the supervisor and
 * a warm worker. Keep in sync with the client.
 *
 * 1. client connects to the supervisor's socket; the supervisor answers with one line:
 *      `F\n`  no worker is ready: run `node main.js` yourself
 *      `X\n`  this supervisor serves an old build and is going away: run node yourself and
 *             start a new supervisor
 *    or hands the connection to a ready worker, which writes `P <pid>\n` (signals go there).
 * 2. client sends the request with its fds 0, 1, 2 attached: u32 LE length, then NUL-separated
 *      argc, argv[1..], envc, env entries, cwd
 * 3. when the worker exits, the supervisor (its parent) writes `E <code>\n` or `S <signo>\n`.
 */
import { HullError } from '../../util/errors.js';

/** The fd on which a worker receives connections from its supervisor (stdio index 3). */
export const CTL_FD = 3;
/** The name under which a worker's V8 exposes gc() (supervisor.ts spawns it with --expose-gc-as). */
export const WORKER_GC_NAME = 'hullWorkerGc';
/** How long a worker waits for the request after announcing itself. */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface CliRequest {
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export function parseRequest(data: Buffer): CliRequest {
  const fields = data.toString('utf8').split('\0');
  let i = 0;
  const next = (): string => {
    const f = fields[i++];
    if (f === undefined) throw new HullError('INTERNAL', 'truncated CLI request');
    return f;
  };
  const count = (): number => {
    const n = Number(next());
    if (!Number.isInteger(n) || n < 0) throw new HullError('INTERNAL', 'malformed CLI request');
    return n;
  };
  const args = Array.from({ length: count() }, next);
  const env: Record<string, string> = {};
  for (let n = count(); n > 0; n--) {
    const entry = next();
    const eq = entry.indexOf('=');
    // getenv() semantics: the first '=' ends the name; entries without one are not variables.
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { args, env, cwd: next() };
}

/** The status line the supervisor sends when a worker exits. */
export function exitLine(code: number | null, signo: number | undefined): string {
  return code === null && signo !== undefined ? `S ${signo}\n` : `E ${code ?? 125}\n`;
}
