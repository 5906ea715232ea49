/**
 * Container policy: create, start, stop, kill, remove, wait, and the bookkeeping that keeps
 * `ps` truthful without a daemon. A running container is held by its monitor (a small C
 * process); when it exits, the monitor runs `hull _exited <id>`, which records the exit,
 * unmounts, and applies the restart policy or --rm.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ImageStore } from '../image/store.js';
import type { ContainerDoc, ContainerState } from '../container/model.js';
import { initialState } from '../container/model.js';
import { attach, isMonitorAlive, readExit, startMonitor, waitExit, ContainerStartError, type AttachOptions, type Attachment, type ExitInfo } from '../container/monitor.js';
import { NAME_PATTERN, randomName } from '../container/names.js';
import { containerPaths, runtimeRoot } from '../container/paths.js';
import { unmountRootfs } from '../container/rootfs.js';
import { chooseRuntime, Runtime } from '../container/runtime.js';
import { ContainerRecords, type ContainerRow } from '../state/containers.js';
import type { Db } from '../state/db.js';
import { HullError, isHullError } from '../util/errors.js';
import { buildContainerDoc, type CreateRequest } from './container-create.js';
import { prepareBundle } from './container-bundle.js';

export interface Container {
  id: string;
  name: string;
  imageId: string;
  createdAt: string;
  doc: ContainerDoc;
  state: ContainerState;
}

const DEFAULT_STOP_TIMEOUT = 10;
/** Docker's restart backoff: 100 ms doubling, capped (we cap lower: no daemon sleeps for us). */
const RESTART_BASE_DELAY_MS = 100;
const RESTART_MAX_DELAY_MS = 10_000;

function nowIso(): string {
  return new Date().toISOString();
}

/** The CLI entry point, for the monitor's exit command. */
function hullMain(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

export class ContainerService {
  readonly records: ContainerRecords;

  constructor(
    readonly root: string,
    db: Db,
    private readonly images: ImageStore,
  ) {
    this.records = new ContainerRecords(db);
  }

  private load(row: ContainerRow): Container {
    return {
      id: row.id,
      name: row.name,
      imageId: row.imageId,
      createdAt: row.createdAt,
      doc: JSON.parse(row.config) as ContainerDoc,
      state: JSON.parse(row.state) as ContainerState,
    };
  }

  /** Resolve a name, full id or unique id prefix, as every Docker verb does. */
  find(ref: string): Container | undefined {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = /^[a-f0-9]{64}$/.test(name) ? this.records.get(name) : undefined;
    if (byId) return this.reconcile(this.load(byId));
    const byName = this.records.byName(name);
    if (byName) return this.reconcile(this.load(byName));
    if (/^[a-f0-9]+$/.test(name)) {
      const rows = this.records.byIdPrefix(name);
      if (rows.length > 1) throw new HullError('INVALID_ARGUMENT', `Multiple IDs found with provided prefix: ${name}`);
      if (rows[0]) return this.reconcile(this.load(rows[0]));
    }
    return undefined;
  }

  get(ref: string): Container {
    const c = this.find(ref);
    if (!c) throw new HullError('NOT_FOUND', `No such container: ${ref}`);
    return c;
  }

  list(): Container[] {
    return this.records.list().map((r) => this.reconcile(this.load(r)));
  }

  private saveState(id: string, state: ContainerState): void {
    this.records.setState(id, JSON.stringify(state));
  }

  /**
   * Make the recorded state true: a "running" container whose monitor is gone has exited
   * (its exit.json says how) or died with its monitor (killed with it, or a crash).
   */
  private reconcile(c: Container): Container {
    const s = c.state;
    if (!(s.Status === 'running' || s.Status === 'paused' || s.Status === 'restarting')) return c;
    if (s.MonitorPid > 0 && isMonitorAlive(s.MonitorPid)) return c;
    const paths = containerPaths(this.root, c.id);
    const exit = readExit(paths.monitor);
    this.records.transaction(() => {
      const fresh = this.records.get(c.id);
      if (!fresh) return;
      const cur = JSON.parse(fresh.state) as ContainerState;
      if (cur.MonitorPid !== s.MonitorPid || !(cur.Status === 'running' || cur.Status === 'paused' || cur.Status === 'restarting')) {
        c.state = cur;
        return;
      }
      c.state = exit ? exitedState(cur, exit) : { ...exitedState(cur, { exitCode: 137, signal: 9, oomKilled: false, finishedAt: nowIso() }), Error: 'container monitor exited unexpectedly' };
      this.saveState(c.id, c.state);
    });
    try {
      unmountRootfs(paths.rootfs);
    } catch {
      // still in use; the next command tries again
    }
    return c;
  }

  async create(req: CreateRequest, name?: string): Promise<Container> {
    if (name !== undefined && name !== '' && !NAME_PATTERN.test(name)) {
      throw new HullError('INVALID_ARGUMENT', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const image = this.images.find(req.Config.Image);
    if (!image) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${req.Config.Image}`);
    const id = randomBytes(32).toString('hex');
    const doc = buildContainerDoc(req, image.config, id);
    const createdAt = nowIso();
    const paths = containerPaths(this.root, id);
    await mkdir(paths.dir, { recursive: true, mode: 0o710 });
    const wanted = name ? name.replace(/^\//, '') : undefined;
    for (let attempt = 0; ; attempt++) {
      const candidate = wanted ?? randomName(attempt);
      try {
        this.records.insert({ id, name: candidate, imageId: image.id, createdAt, config: JSON.stringify(doc), state: JSON.stringify(initialState()) });
        return { id, name: candidate, imageId: image.id, createdAt, doc, state: initialState() };
      } catch (e) {
        if (!(e instanceof Error) || !/UNIQUE constraint failed: containers.name/.test(e.message)) {
          await rm(paths.dir, { recursive: true, force: true });
          throw e;
        }
        if (wanted !== undefined || attempt > 10) {
          await rm(paths.dir, { recursive: true, force: true });
          const holder = this.records.byName(candidate);
          throw new HullError(
            'CONFLICT',
            `Conflict. The container name "/${candidate}" is already in use by container "${holder?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
        }
      }
    }
  }

  /**
   * Start: mount the root, write the bundle, have a monitor create the container, optionally
   * attach (before anything runs, so no output is lost), then let it run.
   */
  async start(ref: string, attachOpts?: AttachOptions): Promise<{ container: Container; attachment?: Attachment }> {
    const c = this.get(ref);
    if (c.state.Status === 'running' || c.state.Status === 'paused') {
      if (attachOpts) return { container: c, attachment: await attach(containerPaths(this.root, c.id).monitor, attachOpts) };
      return { container: c };
    }
    const image = this.images.load(c.imageId);
    if (!image) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${c.doc.Config.Image}`);
    const paths = containerPaths(this.root, c.id);
    const runtimePath = chooseRuntime(c.doc.HostConfig.Runtime || undefined);
    const runtime = new Runtime(runtimePath, runtimeRoot(this.root));
    await runtime.delete(c.id);
    await rm(paths.monitor, { recursive: true, force: true });
    await mkdir(paths.monitor, { recursive: true, mode: 0o700 });
    await prepareBundle(this.images, c, image, paths);

    const log = c.doc.HostConfig.LogConfig;
    let started;
    try {
      started = await startMonitor({
        id: c.id,
        bundle: paths.dir,
        runtime: runtimePath,
        runtimeRoot: runtimeRoot(this.root),
        stateDir: paths.monitor,
        terminal: c.doc.Config.Tty,
        stdin: c.doc.Config.OpenStdin,
        ...(log.Type === 'json-file' ? { logPath: paths.logPath } : {}),
        ...(log.Config['max-size'] ? { logMaxSize: parseLogSize(log.Config['max-size']) } : {}),
        ...(log.Config['max-file'] ? { logMaxFiles: Number(log.Config['max-file']) } : {}),
        exitCommand: [process.execPath, hullMain(), '--root', this.root, '_exited', c.id],
      });
    } catch (e) {
      unmountRootfs(paths.rootfs);
      if (e instanceof ContainerStartError && e.exitStatus !== undefined) {
        const st = { ...c.state, Status: 'exited' as const, ExitCode: e.exitStatus, Error: e.runtimeMessage, FinishedAt: nowIso() };
        this.saveState(c.id, st);
      }
      throw e;
    }
    const state: ContainerState = {
      ...c.state,
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: started.pid,
      ExitCode: 0,
      Error: '',
      StartedAt: nowIso(),
      FinishedAt: c.state.FinishedAt,
      MonitorPid: started.monitorPid,
      ManuallyStopped: false,
      Runtime: runtimePath,
    };
    this.saveState(c.id, state);
    c.state = state;
    let attachment: Attachment | undefined;
    try {
      if (attachOpts) attachment = await attach(paths.monitor, attachOpts);
      await runtime.start(c.id);
    } catch (e) {
      attachment?.detach();
      await runtime.kill(c.id, 'KILL').catch(() => undefined);
      throw e;
    }
    return { container: c, ...(attachment ? { attachment } : {}) };
  }

  /** Wait until the container is not running; returns its exit code (Docker's `wait`). */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    let c = this.get(ref);
    if (c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting') {
      const exit = await waitExit(containerPaths(this.root, c.id).monitor, signal, c.state.MonitorPid);
      await this.exited(c.id).catch(() => undefined);
      c = this.find(c.id) ?? c;
      return exit.exitCode;
    }
    return c.state.ExitCode;
  }

  /**
   * The monitor's exit command (and anyone who sees an exit first): record it once, unmount,
   * then --rm or the restart policy. Idempotent: only the first caller for a given monitor acts.
   */
  async exited(id: string): Promise<void> {
    const row = this.records.get(id);
    if (!row) return;
    const c = this.load(row);
    const paths = containerPaths(this.root, id);
    const exit = readExit(paths.monitor);
    let acted = false;
    this.records.transaction(() => {
      const fresh = this.records.get(id);
      if (!fresh || !exit) return;
      const cur = JSON.parse(fresh.state) as ContainerState;
      if (!(cur.Status === 'running' || cur.Status === 'paused')) return;
      c.state = exitedState(cur, exit);
      this.saveState(id, c.state);
      acted = true;
    });
    if (!acted) return;
    unmountRootfs(paths.rootfs);
    if (c.doc.HostConfig.AutoRemove) {
      await this.remove(id, { force: true, volumes: false });
      return;
    }
    if (shouldRestart(c)) {
      const delay = Math.min(RESTART_MAX_DELAY_MS, RESTART_BASE_DELAY_MS * 2 ** c.state.RestartCount);
      this.saveState(id, { ...c.state, Status: 'restarting', Restarting: true, RestartCount: c.state.RestartCount + 1 });
      await new Promise((r) => setTimeout(r, delay));
      const now = this.records.get(id);
      if (!now || (JSON.parse(now.state) as ContainerState).Status !== 'restarting') return;
      this.saveState(id, { ...c.state, RestartCount: c.state.RestartCount + 1 });
      await this.start(id).catch((e: unknown) => {
        const st = { ...c.state, RestartCount: c.state.RestartCount + 1, Error: isHullError(e) ? e.message : String(e) };
        this.saveState(id, st);
      });
    }
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const c = this.get(ref);
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
      throw new HullError('CONFLICT', `Cannot kill container: ${ref}: Container ${c.id} is not running`);
    }
    this.markStopped(c);
    await this.runtimeFor(c).kill(c.id, normalizeSignal(signal));
  }

  /** SIGTERM (or the stop signal), then SIGKILL after the timeout, as `docker stop`. */
  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<Container> {
    const c = this.get(ref);
    if (c.state.Status === 'restarting') {
      this.saveState(c.id, { ...c.state, Status: 'exited', Restarting: false, ManuallyStopped: true });
      return this.get(c.id);
    }
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') return c;
    this.markStopped(c);
    const runtime = this.runtimeFor(c);
    const paths = containerPaths(this.root, c.id);
    const timeout = timeoutSeconds ?? c.doc.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (c.state.Status === 'paused') await runtime.resume(c.id).catch(() => undefined);
    const stopSignal = normalizeSignal(signal ?? c.doc.Config.StopSignal ?? 'TERM');
    await runtime.kill(c.id, stopSignal).catch(() => undefined);
    const exited = await this.waitFor(paths.monitor, c.state.MonitorPid, timeout * 1000);
    if (!exited) {
      await runtime.kill(c.id, 'KILL', true).catch(() => undefined);
      await this.waitFor(paths.monitor, c.state.MonitorPid, 30_000);
    }
    await this.exited(c.id);
    return this.get(c.id);
  }

  async restart(ref: string, timeoutSeconds?: number): Promise<void> {
    const c = await this.stop(ref, timeoutSeconds);
    await this.start(c.id);
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<Container> {
    const c = this.get(ref);
    if (c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting') {
      if (!opts.force) {
        throw new HullError(
          'CONFLICT',
          `cannot remove container "/${c.name}": container is ${c.state.Status}: stop the container before removing or force remove`,
        );
      }
      this.markStopped(c);
      const runtime = this.runtimeFor(c);
      if (c.state.Status === 'paused') await runtime.resume(c.id).catch(() => undefined);
      await runtime.kill(c.id, 'KILL', true).catch(() => undefined);
      await this.waitFor(containerPaths(this.root, c.id).monitor, c.state.MonitorPid, 30_000);
    }
    const paths = containerPaths(this.root, c.id);
    this.records.transaction(() => {
      const fresh = this.records.get(c.id);
      if (fresh) this.saveState(c.id, { ...(JSON.parse(fresh.state) as ContainerState), Status: 'removing' });
    });
    unmountRootfs(paths.rootfs);
    await new Runtime(c.state.Runtime || chooseRuntime(), runtimeRoot(this.root)).delete(c.id);
    await rm(paths.dir, { recursive: true, force: true });
    await rm(paths.monitor, { recursive: true, force: true });
    this.records.delete(c.id);
    return c;
  }

  private markStopped(c: Container): void {
    this.records.transaction(() => {
      const fresh = this.records.get(c.id);
      if (fresh) this.saveState(c.id, { ...(JSON.parse(fresh.state) as ContainerState), ManuallyStopped: true });
    });
  }

  /**
   * Record pause/unpause after the runtime did it. Only a live container changes: one that
   * exited meanwhile keeps its exit. Running stays true while paused, as in Docker.
   */
  setPaused(id: string, paused: boolean): void {
    this.records.transaction(() => {
      const fresh = this.records.get(id);
      if (!fresh) return;
      const cur = JSON.parse(fresh.state) as ContainerState;
      if (cur.Status !== 'running' && cur.Status !== 'paused') return;
      this.saveState(id, { ...cur, Status: paused ? 'paused' : 'running', Paused: paused });
    });
  }

  runtimeFor(c: Container): Runtime {
    return new Runtime(c.state.Runtime || chooseRuntime(c.doc.HostConfig.Runtime || undefined), runtimeRoot(this.root));
  }

  /** True if the container exited within `ms`. */
  private async waitFor(stateDir: string, monitorPid: number, ms: number): Promise<boolean> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ms);
    try {
      await waitExit(stateDir, ctl.signal, monitorPid);
      return true;
    } catch {
      return readExit(stateDir) !== undefined || !isMonitorAlive(monitorPid);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Image ids used by containers: what rmi must refuse to delete. */
  imageUsers(imageId: string): Container[] {
    return this.records.usingImage(imageId).map((r) => this.load(r));
  }
}

function exitedState(cur: ContainerState, exit: ExitInfo): ContainerState {
  return {
    ...cur,
    Status: 'exited',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: exit.oomKilled,
    Pid: 0,
    ExitCode: exit.exitCode,
    FinishedAt: exit.finishedAt,
    MonitorPid: 0,
  };
}

function shouldRestart(c: Container): boolean {
  const p = c.doc.HostConfig.RestartPolicy;
  const s = c.state;
  if (s.ManuallyStopped) return false;
  switch (p.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return s.ExitCode !== 0 && (p.MaximumRetryCount === 0 || s.RestartCount < p.MaximumRetryCount);
    default:
      return false;
  }
}

/** `SIGTERM`, `TERM`, `15` → what runc kill accepts (names without SIG, or numbers). */
export function normalizeSignal(sig: string): string {
  const s = sig.trim().toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(s)) return s;
  if (!/^[A-Z0-9+-]+$/.test(s)) throw new HullError('INVALID_ARGUMENT', `Invalid signal: ${sig}`);
  return s;
}

/** `--log-opt max-size=10m` in bytes (Docker accepts k/m/g suffixes). */
function parseLogSize(v: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(v.trim());
  if (!m) throw new HullError('INVALID_ARGUMENT', `invalid max-size: ${v}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
