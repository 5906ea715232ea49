/**
 * The Engine API server (`hull serve`) against dockerd, both driven through their unix sockets:
 *
 * 1. `docker run --rm IMAGE true` with the real docker CLI 28, DOCKER_HOST at
 *    `hull serve` or at a private dockerd 20.10: wall time from the CLI's spawn to its exit,
 *    tools taking turns (order rotating each round), background work (monitor, `_exited`,
 *    shim) settled untimed between runs. Then where hull's time goes, from the server's own
 *    request trace (HULL_API_TRACE): the CLI's start-up and round trips, the create and start
 *    handlers (the engine), and the container's run, exit and removal until `wait` answers.
 * 2. Throughput and latency of `GET /_ping` and `GET /containers/json` with `--containers`
 *    running `sleep` containers in each engine: `--clients` concurrent keep-alive clients in
 *    this process, each sending `--requests` requests one after another, stopped at a hard
 *    `--cap` seconds per endpoint and tool; req/s, p50 and p99 latency.
 *
 *   node dist/bench/api.js [--runs 10] [--containers 50] [--clients 4] [--requests 200] [--cap 60]
 *                          [--pause 300] [--network default|none] [--no-run] [--no-requests]
 *
 * A benchmark reports; it never fails: the exit status is 0 whatever the budget line says.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { DOCKER_CLI } from '../test/helpers/api-server.js';
import { HULL_BIN, runHull } from '../test/helpers/hull.js';
import type { TraceLine } from '../src/api/trace.js';
import { BENCH_IMAGE, buildBenchImage, cliOk, dockerEngine, log, msTable, removeAllContainers } from './lib/containers.js';
import type { BenchImage, Engine, MsSeries, NetworkChoice } from './lib/containers.js';
import { PeerStartError, processesMatching, run, unmountAll, type RunOptions } from './lib/peers.js';
import { cleanupStack, median } from './lib/stats.js';

const BUDGET_VS_DOCKER = 0.25;
const RUN_TIMEOUT_MS = 60_000;
const SETTLE_LIMIT_MS = 15_000;

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    containers: { type: 'string', default: '50' },
    clients: { type: 'string', default: '4' },
    requests: { type: 'string', default: '200' },
    cap: { type: 'string', default: '60' },
    'no-run': { type: 'boolean', default: false },
    pause: { type: 'string', default: '300' },
    'no-requests': { type: 'boolean', default: false },
    network: { type: 'string', default: 'default' },
  },
});
const RUNS = Math.max(1, Number(opts.runs));
/** Untimed pause after each run's settle, for both engines: the kernel's netns teardown and the daemons' clean-up show in no process list (see run.ts). */
const PAUSE_MS = Math.min(10_000, Math.max(0, Number(opts.pause) || 0));
const CONTAINERS = Math.min(200, Math.max(1, Number(opts.containers)));
const CLIENTS = Math.min(32, Math.max(1, Number(opts.clients)));
const REQUESTS = Math.min(10_000, Math.max(1, Number(opts.requests)));
const CAP_MS = Math.min(600, Math.max(1, Number(opts.cap))) * 1000;
/** Each engine's default network (hull's `bridge`; dockerd's private bridge, bench/lib/peer-bridge.ts), or `none` for both. */
const NETWORK: NetworkChoice = opts.network === 'none' ? 'none' : 'default';
if (opts.network !== 'none' && opts.network !== 'default') throw new Error('--network must be default or none');

/** An engine behind an API socket, driven by the docker CLI. */
interface ApiEngine extends Engine {
  socket: string;
}

/** `hull serve` on `root` at `socket`; resolves once it listens. */
async function startServe(root: string, socket: string, env: Record<string, string>): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'serve', '-H', `unix://${socket}`], {
    env: { ...process.env, DOCKER_CONFIG: join(root, '..', 'server-docker-config'), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hull serve did not start: ${stderr}`)), 60_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('API listen on')) {
        clearTimeout(t);
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`hull serve exited: ${stderr}`)));
  });
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * hull through `hull serve` on a fresh root with the bench image loaded. The server can be
 * replaced (`restart`) on the same root and socket: with a request trace for the run part,
 * without one for the throughput part, which must not pay for the trace's writes.
 */
async function hullServe(image: BenchImage, dir: string): Promise<ApiEngine & { restart(env: Record<string, string>): Promise<void> }> {
  const root = join(dir, 'root');
  const socket = join(dir, 'hull.sock');
  const loaded = await runHull(['load', '-i', image.ociArchive], { root });
  if (loaded.code !== 0) throw new Error(`hull load: ${loaded.stderr}`);
  let server: { stop(): Promise<void> } | undefined;
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'docker-config') };
  const engine = {
    name: 'hull serve',
    socket,
    stateRoot: root,
    cli: (args: readonly string[], o: Omit<RunOptions, 'env'> = {}) => run(DOCKER_CLI, args, { ...o, env }),
    runFlags: NETWORK === 'none' ? ['--network', 'none'] : [],
    image: BENCH_IMAGE,
    holders: () => processesMatching('hull-monitor', `${root}/`),
    holderName: 'hull-monitor',
    background: async () => [...(await processesMatching('hull-monitor', `${root}/`)), ...(await processesMatching('node', `--root ${root} _exited`))],
    restart: async (serverEnv: Record<string, string>) => {
      await server?.stop();
      server = undefined;
      server = await startServe(root, socket, serverEnv);
    },
    stop: async () => {
      await removeAllContainers(engine).catch((e: unknown) => log(`hull cleanup: ${(e as Error).message}`));
      // The monitors' `_exited` processes open the root: let them finish before it is removed.
      await settle(engine);
      await server?.stop();
      const left = await unmountAll(root);
      if (left.length > 0) throw new Error(`hull: could not unmount ${left.join(', ')}; left ${root} in place`);
    },
  };
  return engine;
}

async function settle(engine: Engine): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  while ((await engine.background()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

function readTrace(file: string): TraceLine[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceLine);
  } catch {
    return [];
  }
}

/** Phases of one `docker run --rm` through hull serve, from the server's trace of that run. */
interface Phases {
  /** spawn → create request arrives: the CLI's start-up, `_ping`, version negotiation. */
  toCreate: number;
  /** the create handler: body, engine create (row, name, image lookup). */
  create: number;
  /** create answered → start arrives: the CLI's attach (hijack) and wait requests. */
  toStart: number;
  /** the start handler: engine start (mount, bundle, monitor, runc create + start), attach connect. */
  start: number;
  /** start answered → wait answered: `true` runs and exits, the exit is recorded, --rm removes. */
  toWait: number;
  /** wait answered → the CLI exits. */
  toExit: number;
}

function phasesOf(lines: TraceLine[], spawn: number, exit: number): Phases | undefined {
  const find = (m: string, re: RegExp): TraceLine | undefined => lines.find((l) => l.method === m && re.test(l.path));
  const create = find('POST', /\/containers\/create/);
  const start = find('POST', /\/containers\/[^/]+\/start/);
  const wait = find('POST', /\/containers\/[^/]+\/wait/);
  if (!create || !start || !wait) return undefined;
  return {
    toCreate: create.start - spawn,
    create: create.end - create.start,
    toStart: start.start - create.end,
    start: start.end - start.start,
    toWait: wait.end - start.end,
    toExit: exit - wait.end,
  };
}

async function runBench(hull: ApiEngine, docker: ApiEngine | undefined, traceFile: string): Promise<void> {
  const tools = docker ? [hull, docker] : [hull];
  const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const phases: Phases[] = [];
  const requestsPerRun: number[] = [];
  const args = (e: Engine): string[] => ['run', '--rm', ...e.runFlags, e.image, 'true'];
  const once = async (e: ApiEngine, timed: boolean): Promise<void> => {
    writeFileSync(traceFile, '');
    const spawn = performance.timeOrigin + performance.now();
    const t0 = performance.now();
    await cliOk(e, args(e), { timeoutMs: RUN_TIMEOUT_MS });
    const ms = performance.now() - t0;
    const exit = performance.timeOrigin + performance.now();
    await settle(e);
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    if (!timed) return;
    samples.get(e.name)!.push(ms);
    if (e === hull) {
      const lines = readTrace(traceFile);
      requestsPerRun.push(lines.length);
      const p = phasesOf(lines, spawn, exit);
      if (p) phases.push(p);
    }
  };
  for (const t of tools) await once(t, false);
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < tools.length; k++) await once(tools[(i + k) % tools.length]!, true);
    log(`docker run --rm: round ${i + 1}/${RUNS} ${tools.map((t) => `${t.name} ${(samples.get(t.name)!.at(-1) ?? Number.NaN).toFixed(0)}ms`).join(', ')}`);
  }
  const series: MsSeries[] = tools.map((t) => ({ name: t.name, samples: samples.get(t.name)! }));
  process.stdout.write(msTable(`docker run --rm ${NETWORK === 'none' ? '--network none ' : ''}IMAGE true (docker CLI ${DOCKER_CLI}), ${RUNS} runs each, interleaved`, series, docker ? 'docker' : undefined));
  if (docker) {
    const r = median(samples.get(hull.name)!) / median(samples.get(docker.name)!);
    process.stdout.write(`hull serve / docker: ${r.toFixed(2)}x\n`);
    process.stdout.write(`budget: hull serve <= ${BUDGET_VS_DOCKER}x docker -> ${r <= BUDGET_VS_DOCKER ? 'PASS' : 'FAIL'}\n`);
  }
  if (phases.length > 0) {
    const rows: [string, keyof Phases][] = [
      ['spawn -> create arrives (CLI start-up, _ping)', 'toCreate'],
      ['create handler (engine create)', 'create'],
      ['create answered -> start arrives (attach, wait)', 'toStart'],
      ['start handler (engine start + attach)', 'start'],
      ['start answered -> wait answered (run, exit, --rm)', 'toWait'],
      ['wait answered -> CLI exit', 'toExit'],
    ];
    const w = Math.max(...rows.map(([l]) => l.length));
    process.stdout.write(`\nwhere hull serve's time goes (medians of ${phases.length} runs, from the server's request trace; ${median(requestsPerRun)} requests per run)\n`);
    for (const [label, key] of rows) process.stdout.write(`  ${label.padEnd(w)}  ${median(phases.map((p) => p[key])).toFixed(0).padStart(5)} ms\n`);
    const engineMs = median(phases.map((p) => p.create + p.start));
    const total = median(samples.get(hull.name)!);
    process.stdout.write(`  engine (create + start handlers): ${engineMs.toFixed(0)} ms of ${total.toFixed(0)} ms; the rest is the CLI, round trips, and the container's run and exit\n`);
  }
}

/** One endpoint under bounded load: CLIENTS clients × REQUESTS requests, stopped at CAP_MS. */
async function load(socket: string, path: string): Promise<{ done: number; errors: number; seconds: number; latencies: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + CAP_MS;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = performance.now();
      const req = request({ socketPath: socket, path, agent, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - s);
          else errors++;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const client = async (): Promise<void> => {
    for (let i = 0; i < REQUESTS && performance.now() < deadline; i++) await one();
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { done: latencies.length, errors, seconds, latencies };
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function requestBench(hull: ApiEngine, docker: ApiEngine | undefined): Promise<void> {
  const tools = docker ? [hull, docker] : [hull];
  for (const e of tools) {
    log(`${e.name}: starting ${CONTAINERS} sleep containers`);
    for (let i = 0; i < CONTAINERS; i++) await cliOk(e, ['run', '-d', ...e.runFlags, e.image, 'sleep', '100000'], { timeoutMs: RUN_TIMEOUT_MS });
    const running = (await cliOk(e, ['ps', '-q'])).split('\n').filter(Boolean).length;
    if (running !== CONTAINERS) throw new Error(`${e.name}: ${running} containers running, expected ${CONTAINERS}`);
  }
  const rows: string[][] = [];
  const results = new Map<string, { rps: number; p50: number; p99: number }>();
  for (const path of ['/_ping', '/containers/json']) {
    // The order alternates per endpoint so neither tool always goes first.
    const order = path === '/_ping' ? tools : [...tools].reverse();
    for (const e of order) {
      await load(e.socket, path); // warm-up, not counted (connections, caches, JIT)
      const r = await load(e.socket, path);
      const rps = r.done / r.seconds;
      results.set(`${e.name} ${path}`, { rps, p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99) });
      rows.push([`GET ${path}`, e.name, String(r.done), String(r.errors), r.seconds.toFixed(1), rps.toFixed(0), percentile(r.latencies, 50).toFixed(2), percentile(r.latencies, 99).toFixed(2)]);
      log(`${e.name} GET ${path}: ${rps.toFixed(0)} req/s`);
    }
  }
  const header = ['endpoint', 'tool', 'ok', 'errors', 'seconds', 'req/s', 'p50 ms', 'p99 ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  process.stdout.write(`\nrequests over the unix socket, ${CONTAINERS} running sleep containers, ${CLIENTS} keep-alive clients x ${REQUESTS} requests, cap ${CAP_MS / 1000} s\n`);
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
  if (docker) {
    for (const path of ['/_ping', '/containers/json']) {
      const h = results.get(`${hull.name} ${path}`)!;
      const d = results.get(`${docker.name} ${path}`)!;
      process.stdout.write(`GET ${path}: hull serve / docker: req/s ${(h.rps / d.rps).toFixed(2)}x, p50 ${(h.p50 / d.p50).toFixed(2)}x, p99 ${(h.p99 / d.p99).toFixed(2)}x\n`);
    }
  }
}

async function main(): Promise<void> {
  const { cleanups, cleanup } = cleanupStack(log);
  try {
    const work = await mkdtemp(join(tmpdir(), 'hull-bench-api-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const image = await buildBenchImage();
    cleanups.push(() => image.remove());
    const trace = join(work, 'trace.jsonl');
    const hull = await hullServe(image, work);
    cleanups.push(() => hull.stop());
    await hull.restart({ HULL_API_TRACE: trace });
    let docker: ApiEngine | undefined;
    try {
      const d = await dockerEngine(image, NETWORK);
      docker = { ...d.engine, socket: d.peer.socket };
      cleanups.push(() => d.engine.stop());
    } catch (e) {
      if (!(e instanceof PeerStartError)) throw e;
      log(`dockerd did not start, hull serve only: ${e.message}`);
    }
    process.stdout.write(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
    if (!opts['no-run']) await runBench(hull, docker, trace);
    if (!opts['no-requests']) {
      // The trace writes a line per request: the throughput part runs on an untraced server.
      await hull.restart({});
      await requestBench(hull, docker);
    }
    process.stdout.write(`load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  } finally {
    await cleanup();
  }
}

await main();
