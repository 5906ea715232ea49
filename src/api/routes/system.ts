/** _ping, version, info, events, system/df, auth. */
import { cpus, hostname, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { containerSummary } from '../../engine/container-views.js';
import { humanDuration } from '../../util/units.js';
import type { EventRow } from '../../state/events.js';
import { nowNano } from '../../state/events.js';
import { HullError } from '../../util/errors.js';
import { filterMap, readJson, sendJson, type Ctx, type Route } from '../http.js';
import { API_VERSION, MIN_API_VERSION } from '../router.js';

const VERSION = '0.1.0';

function ping(ctx: Ctx): void {
  const { res, req } = ctx;
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Builder-Version', '1');
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
  res.end(req.method === 'HEAD' ? undefined : 'OK');
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

function version(ctx: Ctx): void {
  const details = { ApiVersion: API_VERSION, Arch: goArch(), BuildTime: '', Experimental: 'false', GitCommit: '', GoVersion: `node${process.versions.node}`, KernelVersion: release(), MinAPIVersion: MIN_API_VERSION, Os: 'linux' };
  sendJson(ctx.res, 200, {
    Platform: { Name: 'hull' },
    Components: [{ Name: 'Engine', Version: VERSION, Details: details }],
    Version: VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: '',
    GoVersion: details.GoVersion,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: release(),
    BuildTime: '',
  });
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch {
    // no os-release
  }
  return 'Linux';
}

function cgroupVersion(): string {
  try {
    readFileSync('/sys/fs/cgroup/cgroup.controllers');
    return '2';
  } catch {
    return '1';
  }
}

function info(ctx: Ctx): void {
  const list = ctx.engine.containers.list();
  const count = (s: string): number => list.filter((c) => c.state.Status === s).length;
  sendJson(ctx.res, 200, {
    ID: ctx.engine.root,
    Containers: list.length,
    ContainersRunning: count('running'),
    ContainersPaused: count('paused'),
    ContainersStopped: list.length - count('running') - count('paused'),
    Images: ctx.engine.listImages().length,
    Driver: 'overlayfs',
    DriverStatus: [['Backing Filesystem', 'overlay'], ['Layers keyed by', 'diff id']],
    Plugins: { Volume: [], Network: [], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion(),
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSVersion: '',
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'], IndexConfigs: {}, Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    DockerRootDir: ctx.engine.root,
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: VERSION,
    Runtimes: { runc: { path: 'runc' } },
    DefaultRuntime: 'runc',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    SecurityOptions: ['name=seccomp,profile=builtin'],
    Warnings: [],
  });
}

function df(ctx: Ctx): void {
  const images = ctx.engine.listImages();
  const containers = ctx.engine.containers.list();
  const users = (id: string): number => containers.filter((c) => c.imageId === id).length;
  sendJson(ctx.res, 200, {
    LayersSize: images.reduce((n, i) => n + i.Size, 0),
    Images: images.map((i) => ({ ...i, Containers: users(i.Id) })),
    Containers: containers.map((c) => ({ ...containerSummary(c, humanDuration, ctx.engine.networks), SizeRw: 0, SizeRootFs: 0 })),
    Volumes: [],
    BuildCache: [],
  });
}

async function auth(ctx: Ctx): Promise<void> {
  const body = await readJson<{ username?: unknown; password?: unknown; serveraddress?: unknown }>(ctx);
  if (typeof body.username !== 'string' || typeof body.password !== 'string') throw new HullError('INVALID_ARGUMENT', 'username and password are required');
  const server = typeof body.serveraddress === 'string' ? body.serveraddress : undefined;
  await ctx.engine.checkLogin(server, body.username, body.password);
  sendJson(ctx.res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
}

// ---- events ------------------------------------------------------------------------------

/** Docker's `since`/`until`: Unix seconds with an optional fraction (the CLI converts other forms). */
function eventTime(v: string | null, name: string): bigint | undefined {
  if (v === null || v === '') return undefined;
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (!m) throw new HullError('INVALID_ARGUMENT', `invalid value for ${name}: ${v}`);
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

/** The JSON message Docker sends for an event (with the legacy status/id/from fields). */
export function eventMessage(e: EventRow): Record<string, unknown> {
  const legacy = e.type === 'container' || e.type === 'image' ? { status: e.action, id: e.actorId, ...(e.type === 'container' && e.attributes.image ? { from: e.attributes.image } : {}) } : {};
  return {
    ...legacy,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.actorId, Attributes: e.attributes },
    scope: 'local',
    time: Number(e.timeNano / 1_000_000_000n),
    timeNano: Number(e.timeNano),
  };
}

const EVENT_FILTERS = new Set(['type', 'event', 'container', 'image', 'label', 'network', 'volume', 'daemon', 'plugin', 'node', 'service', 'secret', 'config', 'scope']);

function eventFilter(ctx: Ctx): (e: EventRow) => boolean {
  const f = filterMap(ctx.query);
  for (const k of f.keys()) if (!EVENT_FILTERS.has(k)) throw new HullError('INVALID_ARGUMENT', `invalid filter '${k}'`);
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const vals = f.get(key);
    return !vals || vals.some(test);
  };
  return (e) =>
    any('type', (v) => v === e.type) &&
    any('event', (v) => v === e.action || e.action.startsWith(`${v}:`)) &&
    any('scope', (v) => v === 'local') &&
    (!f.has('container') || (e.type === 'container' && any('container', (v) => e.actorId.startsWith(v) || e.attributes.name === v))) &&
    (!f.has('image') || any('image', (v) => (e.type === 'image' ? e.actorId === v || e.attributes.name === v : e.attributes.image === v))) &&
    any('label', (v) => {
      const i = v.indexOf('=');
      return i === -1 ? v in e.attributes : e.attributes[v.slice(0, i)] === v.slice(i + 1);
    });
}

/**
 * GET /events: the recorded events in [since, until], then (unless `until` has passed) the
 * live ones as they are recorded, one JSON object per line, until `until` or the client leaves.
 */
function events(ctx: Ctx): void {
  const since = eventTime(ctx.query.get('since'), 'since');
  const until = eventTime(ctx.query.get('until'), 'until');
  const keep = eventFilter(ctx);
  const { res } = ctx;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const write = (e: EventRow): void => {
    if (until !== undefined && e.timeNano > until) return;
    if (keep(e)) res.write(`${JSON.stringify(eventMessage(e))}\n`);
  };
  // Subscribe first, then replay up to where the subscription starts: nothing lost, nothing twice.
  let replayed = false;
  const queued: EventRow[] = [];
  const unsubscribe = ctx.state.events.subscribe((e) => (replayed ? write(e) : queued.push(e)));
  const upTo = ctx.state.events.position;
  if (since !== undefined) {
    for (const e of ctx.engine.events.records.between(since, until ?? nowNano())) if (e.seq <= upTo) write(e);
  }
  replayed = true;
  queued.forEach(write);
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    res.end();
  };
  res.once('close', finish);
  if (until !== undefined) {
    const ms = Number((until - nowNano()) / 1_000_000n);
    if (ms <= 0) return finish();
    timer = setTimeout(finish, ms);
  }
}

export const systemRoutes: Route[] = [
  { method: 'GET', path: '/_ping', handler: ping },
  { method: 'HEAD', path: '/_ping', handler: ping },
  { method: 'GET', path: '/version', handler: version },
  { method: 'GET', path: '/info', handler: info },
  { method: 'GET', path: '/system/df', handler: df },
  { method: 'POST', path: '/auth', handler: auth },
  { method: 'GET', path: '/events', handler: events },
];
