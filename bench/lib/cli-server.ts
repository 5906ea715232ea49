/**
 * hull as a user runs it: the native client (`build/hull-client`) served by a warm worker of a
 * private CLI server (its own socket, so a bench never shares workers with anything else). The
 * client's trace file tells how each command ran (`worker PID` or why it ran node), so a bench
 * can report how many timed commands a warm worker served.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HULL_CLIENT } from '../../test/helpers/hull.js';
import { cliOk, hullEngine, type BenchImage, type Engine, type NetworkChoice } from './containers.js';

/** Warm workers the supervisor keeps (its default). */
export const POOL = 2;
/** How long the pool may take to refill before a bench goes on anyway. */
const SETTLE_LIMIT_MS = 15_000;

/** The CLI server of a warm hull: its private socket and the client's trace of how each command ran. */
export interface CliServer {
  socket: string;
  trace: string;
  dir: string;
}

export function readyWorkers(server: CliServer): number {
  try {
    return Number(readFileSync(`${server.socket}.ready`, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

export function traceLines(server: CliServer): string[] {
  try {
    return readFileSync(server.trace, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** The supervisor serving `server.socket` and its workers (its children). */
export async function serverPids(server: CliServer): Promise<{ supervisor?: number; workers: number[] }> {
  const stats: { pid: number; ppid: number; cmd: string }[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      stats.push({ pid: Number(p), ppid, cmd: readFileSync(`/proc/${p}/cmdline`, 'utf8') });
    } catch {
      // exited meanwhile
    }
  }
  const supervisor = stats.find((s) => s.cmd.includes('supervisor.js') && s.cmd.includes(server.socket))?.pid;
  return { supervisor, workers: stats.filter((s) => supervisor !== undefined && s.ppid === supervisor).map((s) => s.pid) };
}

/** Waits (bounded) until the engine's background work is over and, for a warm hull, its pool is full. */
export async function settle(engine: Engine): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  while ((await engine.background()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

export interface WarmHull {
  engine: Engine;
  server: CliServer;
  /** Commands a warm worker served since the last call (the rest ran a fresh node). */
  servedSince(): { worker: number; total: number };
  stop(): Promise<void>;
}

/**
 * A fresh hull root with the image loaded, driven through the native client with its own CLI
 * server, started and filled before this returns. Its background work includes refilling the
 * pool, so `settle` between timed runs waits for that too.
 */
export async function warmHull(image: BenchImage, opts: { name?: string; env?: Record<string, string>; network?: NetworkChoice; client?: string } = {}): Promise<WarmHull> {
  const client = opts.client ?? HULL_CLIENT;
  if (!existsSync(client)) throw new Error(`${client} is missing: run npm run build first`);
  const dir = await mkdtemp(join(tmpdir(), 'hull-bench-cli-'));
  const server: CliServer = { dir, socket: join(dir, 'cli.sock'), trace: join(dir, 'trace') };
  const engine = await hullEngine(image, { name: opts.name ?? 'hull', viaClient: true, ...(opts.network ? { network: opts.network } : {}), ...(opts.client ? { client: opts.client } : {}), env: { ...opts.env, HULL_CLI_SOCKET: server.socket, HULL_CLIENT_TRACE: server.trace } });
  const background = engine.background.bind(engine);
  engine.background = async () => [...(await background()), ...(readyWorkers(server) < POOL ? [-1] : [])];
  // The first client command finds no server and starts one; wait for its pool.
  await cliOk(engine, ['--version']);
  await settle(engine);
  let seen = traceLines(server).length;
  return {
    engine,
    server,
    servedSince: () => {
      const lines = traceLines(server);
      const fresh = lines.slice(seen);
      seen = lines.length;
      return { worker: fresh.filter((l) => l.startsWith('worker ')).length, total: fresh.length };
    },
    stop: async () => {
      await engine.stop();
      const { supervisor } = await serverPids(server);
      if (supervisor) process.kill(supervisor, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
