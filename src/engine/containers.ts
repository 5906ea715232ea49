/**
 * Container policy: create, start, stop, kill, remove, wait, and the bookkeeping that keeps
 * `ps` truthful without a daemon. A running container is held by its monitor (a small C
 * process); when it exits, the monitor runs `hull _exited <id>`, which records the exit,
 * unmounts, and applies the restart policy or --rm.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, writeFileSync, openSync, closeSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageStore } from '../image/store.js';
import type { ContainerDoc, ContainerState } from '../container/model.js';
import { initialState } from '../container/model.js';
import { attach, isMonitorAlive, readExit, startMonitor, startThroughMonitor, waitExit, ContainerStartError, STATE_FILES, type AttachOptions, type Attachment, type ExitInfo, type FilterMonitorOptions } from '../container/monitor.js';
import { NAME_PATTERN, randomName } from '../container/names.js';
import { containerPaths, runtimeRoot } from '../container/paths.js';
import { unmountRootfs, unmountRootfsAsync } from '../container/rootfs.js';
import { chooseRuntime, Runtime } from '../container/runtime.js';
import { ContainerRecords, type ContainerRow } from '../state/containers.js';
import type { Db } from '../state/db.js';
import { HullError, isHullError } from '../util/errors.js';
import { buildContainerDoc, type CreateRequest } from './container-create.js';
import { prepareBundle } from './container-bundle.js';
import { createPlannedVolumes, planMounts, removeVolumes } from './container-mounts.js';
import { VolumeStore } from '../volume/store.js';
import type { EndpointRequest, NetworkService } from './networks.js';
import { removeNetnsAsync } from '../network/netns.js';
import { EngineEvents } from './events.js';
import { isVm, prepareVm, vmMonitorOptions, vmRuntimePath } from '../vm/prepare.js';
import { mark, span } from '../util/trace.js';
import { afterReply } from '../util/after-reply.js';
import { sweepDeadPidEntries } from '../util/fs.js';

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
  readonly volumes: VolumeStore;
  /** Set by the engine: endpoints at create, plumbing at start, teardown at exit and removal. */
  networks?: NetworkService;
  readonly events: EngineEvents;
  /** One-line notices about how a container is run (a VM falling back to TCG); the CLI's stderr. */
  notice: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

  constructor(
    readonly root: string,
    db: Db,
    private readonly images: ImageStore,
  ) {
    this.records = new ContainerRecords(db);
    this.volumes = new VolumeStore(root, db);
    this.events = new EngineEvents(db);
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
   * Make the recorded state true. `MonitorPid > 0` means a monitor holds (or held) the
   * container and its exit is not recorded yet; what the monitor and the runtime show wins over
   * the row, because a CLI killed at any point of `start` must not leave a lie behind:
   * - monitor gone: exited (exit.json says how), or died with its monitor;
   * - monitor alive, runc's exec.fifo still there: created, never started (the starter died
   *   before `runtime start`), unless a restart is still on its way;
   * - monitor alive, fifo gone, no exit yet: running (the starter died before recording it).
   * A `restarting` container without a monitor is waiting out its backoff in the `_exited`
   * process; if that process is gone, nothing will restart it.
   */
  private reconcile(c: Container): Container {
    const s = c.state;
    const paths = containerPaths(this.root, c.id);
    if (s.MonitorPid <= 0) {
      if (s.Status === 'restarting' && !restarterAlive(paths.dir)) return this.transition(c, (cur) => (cur.Status === 'restarting' && cur.MonitorPid <= 0 ? { ...cur, Status: 'exited', Restarting: false } : undefined));
      if (s.Status === 'running' || s.Status === 'paused') {
        // Written by an older hull, or a monitor that never reported: nothing holds it.
        return this.transition(c, (cur) => (cur.MonitorPid <= 0 && (cur.Status === 'running' || cur.Status === 'paused') ? { ...exitedState(cur, lostExit()), Error: 'container monitor exited unexpectedly' } : undefined));
      }
      return c;
    }
    const monitorPid = s.MonitorPid;
    const same = (cur: ContainerState): boolean => cur.MonitorPid === monitorPid;
    if (!isMonitorAlive(monitorPid)) {
      const exit = readExit(paths.monitor);
      c = this.transition(c, (cur) => (same(cur) ? (exit ? exitedState(cur, exit) : { ...exitedState(cur, lostExit()), Error: 'container monitor exited unexpectedly' }) : undefined));
      try {
        unmountRootfs(paths.rootfs);
      } catch {
        // still in use; the next command tries again
      }
      this.volumes.release(c.id);
      this.networks?.release(c);
      return c;
    }
    if (s.Status === 'paused') return c;
    const fifo = existsSync(join(runtimeRoot(this.root), c.id, 'exec.fifo'));
    if (fifo) {
      if (s.Status === 'created' || (s.Status === 'restarting' && restarterAlive(paths.dir))) return c;
      return this.transition(c, (cur) => (same(cur) ? { ...cur, Status: 'created', Running: false, Restarting: false } : undefined));
    }
    if (s.Status === 'running' || readExit(paths.monitor)) return c;
    return this.transition(c, (cur) => (same(cur) && cur.Status !== 'running' ? { ...cur, Status: 'running', Running: true, Restarting: false, StartedAt: nowIso() } : undefined));
  }

  /** Apply `change` to the freshest state in one transaction (undefined: leave it). */
  private transition(c: Container, change: (cur: ContainerState) => ContainerState | undefined): Container {
    this.records.transaction(() => {
      const fresh = this.records.get(c.id);
      if (!fresh) return;
      const cur = JSON.parse(fresh.state) as ContainerState;
      const next = change(cur);
      c.state = next ?? cur;
      if (next) this.saveState(c.id, next);
    });
    return c;
  }

  async create(req: CreateRequest, name?: string): Promise<Container> {
    if (name !== undefined && name !== '' && !NAME_PATTERN.test(name)) {
      throw new HullError('INVALID_ARGUMENT', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const image = span('create: image lookup', () => this.images.find(req.Config.Image));
    if (!image) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${req.Config.Image}`);
    const id = randomBytes(32).toString('hex');
    const doc = buildContainerDoc(req, image.config, id);
    // A taken name fails before any volume is made (the insert below still decides races).
    if (name && this.records.byName(name.replace(/^\//, ''))) throw this.nameConflict(name.replace(/^\//, ''));
    // Every mount is checked before the first volume is made; anonymous ones go again on failure.
    const plan = planMounts(doc, (ref) => this.get(ref).doc.MountPoints ?? []);
    const { points, anonymous } = await createPlannedVolumes(plan, this.volumes);
    if (points.length > 0) doc.MountPoints = points;
    try {
      return await span('create: insert row, endpoints', () => this.insertNew(id, name, image.id, doc, req.NetworkingConfig?.EndpointsConfig));
    } catch (e) {
      await removeVolumes(this.volumes, anonymous);
      throw e;
    }
  }

  private nameConflict(name: string): HullError {
    const holder = this.records.byName(name);
    return new HullError(
      'CONFLICT',
      `Conflict. The container name "/${name}" is already in use by container "${holder?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  }

  private async insertNew(id: string, name: string | undefined, imageId: string, doc: ContainerDoc, endpoints: Record<string, EndpointRequest> | undefined): Promise<Container> {
    const createdAt = nowIso();
    const paths = containerPaths(this.root, id);
    const wanted = name ? name.replace(/^\//, '') : undefined;
    for (let attempt = 0; ; attempt++) {
      const candidate = wanted ?? randomName(attempt);
      try {
        span('create: row', () => this.records.insert({ id, name: candidate, imageId, createdAt, config: JSON.stringify(doc), state: JSON.stringify(initialState()) }));
        const created: Container = { id, name: candidate, imageId, createdAt, doc, state: initialState() };
        try {
          // The directory after the row: a CLI killed in between leaves a container `ps -a`
          // shows and `rm` removes, never a directory no command knows about.
          span('create: container dir', () => mkdirSync(paths.dir, { recursive: true, mode: 0o710 }));
          span('create: endpoint (IPAM)', () => this.networks?.created(created, endpoints));
        } catch (e) {
          this.networks?.removed(created);
          this.records.delete(id);
          await rm(paths.dir, { recursive: true, force: true });
          throw e;
        }
        this.events.container(created, 'create');
        return created;
      } catch (e) {
        if (!(e instanceof Error) || !/UNIQUE constraint failed: containers.name/.test(e.message)) {
          await rm(paths.dir, { recursive: true, force: true });
          throw e;
        }
        if (wanted !== undefined || attempt > 10) {
          await rm(paths.dir, { recursive: true, force: true });
          throw this.nameConflict(candidate);
        }
      }
    }
  }

  /**
   * Start: mount the root, write the bundle, have a monitor create the container, optionally
   * attach (before anything runs, so no output is lost), then let it run. The row says
   * `running` only once `runtime start` has returned; until then it records the monitor
   * (MonitorPid) so that a CLI killed in between leaves a state `reconcile` can read truly.
   * `restarting`: called by the restart policy, which gives up if the container was stopped or
   * removed meanwhile.
   */
  async start(ref: string, attachOpts?: AttachOptions, restarting = false): Promise<{ container: Container; attachment?: Attachment }> {
    const c = span('start: load container', () => this.get(ref));
    if (c.state.Status === 'running' || c.state.Status === 'paused') {
      if (attachOpts) return { container: c, attachment: await attach(containerPaths(this.root, c.id).monitor, attachOpts) };
      return { container: c };
    }
    const image = span('start: image config', () => this.images.load(c.imageId));
    if (!image) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${c.doc.Config.Image}`);
    const paths = containerPaths(this.root, c.id);
    const vm = isVm(c.doc);
    const runtimePath = vm ? vmRuntimePath() : chooseRuntime(c.doc.HostConfig.Runtime || undefined);
    const runtime = new Runtime(runtimePath, runtimeRoot(this.root));
    // A monitor left by a CLI killed during an earlier start still holds the (created) container
    // and would delete the new one, or write its exit into the new state directory, when it ends.
    // Its directory is made by every start before the monitor, so without one no start ever got
    // that far: nothing to look for (saves a scan of every process's command line).
    if (existsSync(paths.monitor)) span('start: stale monitor scan', () => killStaleMonitors(c.id));
    // A runtime state left by a crashed start must go before `create`; none is the usual case.
    if (existsSync(join(runtimeRoot(this.root), c.id))) await runtime.delete(c.id);
    // Synchronous: an empty directory, and each async call is a thread-pool round trip.
    rmSync(paths.monitor, { recursive: true, force: true });
    mkdirSync(paths.monitor, { recursive: true, mode: 0o700 });
    const net = span('start: network', () => this.networks?.prepare(c));
    // Plumbing that may still be running (net.ready) must be over before anything undoes it.
    const settled = async (): Promise<void> => void (await net?.ready?.catch(() => undefined));
    let filterOptions: FilterMonitorOptions = {};
    try {
      // runc's seccomp filters are precompiled (container/seccomp-filter.ts); a VM has none.
      const filters = !vm && basename(runtimePath) === 'runc' ? { runtimePath, cacheDir: join(this.root, 'seccomp') } : undefined;
      filterOptions = await span('start: bundle', () => prepareBundle(this.images, c, image, paths, this.volumes, net, filters));
      // The runtime joins the namespace by path: it must exist before create.
      if (net?.created) await span('start: network namespace', () => net.created);
      // The VM runtime reads the namespace's interfaces at create.
      if (vm) await span('start: network ready', async () => net?.ready);
      if (vm) await prepareVm(this.root, c.doc, paths.dir, this.notice);
    } catch (e) {
      await settled();
      this.volumes.release(c.id);
      if (net) this.networks?.release(c);
      throw e;
    }

    const log = c.doc.HostConfig.LogConfig;
    let started;
    try {
      started = await span('start: monitor + runtime create', () => startMonitor({
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
        ...(vm ? vmMonitorOptions(runtimeRoot(this.root), c.id, c.doc.Config.Tty) : {}),
        ...filterOptions,
      }));
    } catch (e) {
      await settled();
      unmountRootfs(paths.rootfs);
      this.volumes.release(c.id);
      this.networks?.release(c);
      if (e instanceof ContainerStartError && e.exitStatus !== undefined) {
        // Docker keeps such a container `created` (it never ran), with the status and the reason.
        this.transition(c, (cur) => ({ ...cur, Status: 'created', Running: false, Restarting: false, MonitorPid: 0, ExitCode: e.exitStatus!, Error: e.runtimeMessage }));
      }
      throw e;
    }
    let abandoned = false;
    this.transition(c, (cur) => {
      if (restarting && (cur.Status !== 'restarting' || cur.ManuallyStopped)) {
        abandoned = true;
        return undefined;
      }
      return {
        ...cur,
        Status: restarting ? 'restarting' : 'created',
        Pid: started.pid,
        ExitCode: 0,
        Error: '',
        OOMKilled: false,
        MonitorPid: started.monitorPid,
        ManuallyStopped: false,
        Runtime: runtimePath,
      };
    });
    if (abandoned || !this.records.get(c.id)) {
      // Stopped or removed while the restart was on its way.
      await settled();
      await runtime.kill(c.id, 'KILL').catch(() => undefined);
      if (!this.records.get(c.id)) {
        await this.waitFor(paths.monitor, started.monitorPid, 30_000);
        unmountRootfs(paths.rootfs);
        this.volumes.release(c.id);
        await rm(paths.dir, { recursive: true, force: true });
        await rm(paths.monitor, { recursive: true, force: true });
      }
      throw new HullError('CONFLICT', `container ${c.id} was stopped while restarting`);
    }
    let attachment: Attachment | undefined;
    try {
      if (attachOpts) attachment = await span('start: attach', () => attach(paths.monitor, attachOpts));
      // The workload never runs before its interfaces exist (Docker configures them during
      // create, before start, too).
      await span('start: network ready', async () => net?.ready);
      await span('start: runtime start', () => runtime.start(c.id, () => (attachment ? attachment.start() : startThroughMonitor(paths.monitor))));
      mark('start: workload running');
    } catch (e) {
      attachment?.detach();
      await settled();
      await runtime.kill(c.id, 'KILL').catch(() => undefined);
      throw e;
    }
    const startedAt = nowIso();
    let stoppedMeanwhile = false;
    this.transition(c, (cur) => {
      if (cur.MonitorPid !== started.monitorPid) return undefined;
      // A stop that landed while this restart was between its monitor and `runtime start`
      // wins: the restarted process must not outlive it.
      if (restarting && cur.ManuallyStopped) {
        stoppedMeanwhile = true;
        return undefined;
      }
      // A reader's reconcile may have recorded the start already (it saw runc's exec.fifo
      // consumed) and shown its StartedAt: that one stays, so no reader sees it change.
      const seen = cur.Status === 'running' && cur.StartedAt !== '' && cur.StartedAt !== c.state.StartedAt;
      return { ...cur, Status: 'running', Running: true, Paused: false, Restarting: false, Dead: false, StartedAt: seen ? cur.StartedAt : startedAt };
    });
    if (stoppedMeanwhile) {
      attachment?.detach();
      await runtime.kill(c.id, 'KILL', true).catch(() => undefined);
      throw new HullError('CONFLICT', `container ${c.id} was stopped while restarting`);
    }
    this.events.container(c, 'start');
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
   * The monitor's exit command (and anyone who sees an exit first): record it, unmount, then
   * --rm or the restart policy. Only the first caller for a given exit acts on the policy: it
   * claims the exit with a file created exclusively in the monitor's directory (which each
   * start begins empty). `reconcile` may have recorded the exit already; that does not claim it.
   */
  async exited(id: string): Promise<void> {
    const row = this.records.get(id);
    if (!row) return;
    let c = this.load(row);
    const paths = containerPaths(this.root, id);
    const exit = readExit(paths.monitor);
    if (!exit || !claimExit(paths.monitor)) return;
    const monitorPid = c.state.MonitorPid;
    c = span('exited: record state, event', () => {
      const next = this.transition(c, (cur) => (cur.MonitorPid > 0 ? exitedState(cur, exit) : undefined));
      this.events.container(next, 'die', { exitCode: String(exit.exitCode) });
      return next;
    });
    const autoRemove = c.doc.HostConfig.AutoRemove && !c.state.KeepOnExit;
    // --rm: the removal below unmounts the root after the caller's answer (removeFiles).
    if (!autoRemove) span('exited: unmount', () => unmountRootfs(paths.rootfs));
    this.volumes.release(id);
    // --rm: released by the removal below, the namespace's unmount after the answer.
    if (!autoRemove) span('exited: network release', () => this.networks?.release(c, { deferVeth: true }));
    if (autoRemove) {
      await span('exited: --rm remove', () => this.remove(id, { force: true, volumes: true, exitedMonitor: monitorPid }));
      return;
    }
    if (!shouldRestart(c)) return;
    const delay = Math.min(RESTART_MAX_DELAY_MS, RESTART_BASE_DELAY_MS * 2 ** c.state.RestartCount);
    let go = false;
    this.transition(c, (cur) => {
      if (cur.ManuallyStopped || cur.MonitorPid > 0 || cur.Status !== 'exited') return undefined;
      go = true;
      return { ...cur, Status: 'restarting', Restarting: true, RestartCount: cur.RestartCount + 1 };
    });
    if (!go) return;
    // Lets `reconcile` in other processes tell a pending restart from an abandoned one.
    writeFileSync(join(paths.dir, RESTARTER_FILE), String(process.pid));
    try {
      await new Promise((r) => setTimeout(r, delay));
      const now = this.records.get(id);
      if (!now || (JSON.parse(now.state) as ContainerState).Status !== 'restarting') return;
      await this.start(id, undefined, true).catch((e: unknown) => {
        this.transition(c, (cur) => (cur.Status === 'restarting' ? { ...cur, Status: 'exited', Restarting: false, Error: isHullError(e) ? e.message : String(e) } : undefined));
      });
    } finally {
      await rm(join(paths.dir, RESTARTER_FILE), { force: true });
    }
  }

  /** Record a failure of background work (the exit command) in State.Error, where `inspect` shows it. */
  noteError(id: string, message: string): void {
    const row = this.records.get(id);
    if (row) this.transition(this.load(row), (cur) => ({ ...cur, Error: message }));
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const c = this.get(ref);
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
      throw new HullError('CONFLICT', `Cannot kill container: ${ref}: Container ${c.id} is not running`);
    }
    this.markStopped(c);
    const sig = normalizeSignal(signal);
    await this.runtimeFor(c).kill(c.id, sig);
    this.events.container(c, 'kill', { signal: sig });
  }

  /** SIGTERM (or the stop signal), then SIGKILL after the timeout, as `docker stop`. */
  async stop(ref: string, timeoutSeconds?: number, signal?: string): Promise<Container> {
    let c = this.get(ref);
    if (c.state.Status === 'restarting') {
      // Waiting out the backoff: the restarter sees this and gives up. A restart already past
      // its monitor's start is stopped like a running container.
      c = this.transition(c, (cur) => ({ ...cur, ...(cur.MonitorPid > 0 ? {} : { Status: 'exited' as const, Restarting: false }), ManuallyStopped: true }));
      if (c.state.MonitorPid <= 0 || !isMonitorAlive(c.state.MonitorPid)) return this.get(c.id);
    } else if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
      // It may have just exited with its exit command still on the way (this command's
      // reconcile recorded the exit first): the restart policy must not bring it back.
      this.markStopped(c);
      return c;
    }
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
    this.events.container(c, 'stop');
    // --rm: the exit removed it, and stopping it was still a success.
    return this.find(c.id) ?? c;
  }

  /**
   * Stop, then start. A --rm container is not removed by the stop's exit and stays --rm (Docker
   * 20.10+ clears AutoRemove for its stop): KeepOnExit tells whoever handles that exit (this
   * process or the monitor's exit command) to skip the removal; the start clears it.
   */
  async restart(ref: string, timeoutSeconds?: number): Promise<void> {
    const first = this.get(ref);
    if (first.doc.HostConfig.AutoRemove) this.transition(first, (cur) => ({ ...cur, KeepOnExit: true }));
    try {
      const c = await this.stop(first.id, timeoutSeconds);
      await this.start(c.id);
      this.events.container(c, 'restart');
    } finally {
      const row = this.records.get(first.id);
      if (row && first.doc.HostConfig.AutoRemove) this.transition(this.load(row), (cur) => (cur.KeepOnExit ? { ...cur, KeepOnExit: false } : undefined));
    }
  }

  /** `exitedMonitor`: the monitor that recorded the exit this removal follows (--rm). */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean; exitedMonitor?: number } = {}): Promise<Container> {
    const c = this.get(ref);
    const held = c.state.MonitorPid > 0 && isMonitorAlive(c.state.MonitorPid);
    if (c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting' || held) {
      if (!opts.force && c.state.Status !== 'created') {
        throw new HullError(
          'CONFLICT',
          `cannot remove container "/${c.name}": container is ${c.state.Status}: stop the container before removing or force remove`,
        );
      }
      this.markStopped(c);
      const runtime = this.runtimeFor(c);
      if (c.state.Status === 'paused') await runtime.resume(c.id).catch(() => undefined);
      await runtime.kill(c.id, 'KILL', true).catch(() => undefined);
      // The row goes only with the instance: a monitor still waiting on its process after the
      // kill means it lives on (a VM's QEMU and virtiofsd with it), and removing the row then
      // would leave it running with nothing left to remove it by.
      if (c.state.MonitorPid > 0 && !(await this.waitFor(containerPaths(this.root, c.id).monitor, c.state.MonitorPid, 30_000))) {
        throw new HullError('INTERNAL', `Could not kill running container ${c.id}, cannot remove - its monitor (pid ${c.state.MonitorPid}) is still running 30 s after SIGKILL`);
      }
    }
    // A monitor nobody recorded (its CLI was killed right after starting it) holds a created
    // container; it must not outlive the container's files. Without a monitor directory no start
    // got that far, and with an exit in it the last monitor's container is over (it ends by
    // itself once the directory is gone): no /proc scan then, the `run --rm` case.
    const paths = containerPaths(this.root, c.id);
    if (existsSync(paths.monitor) && !existsSync(join(paths.monitor, STATE_FILES.exit))) killStaleMonitors(c.id);
    // An exit nobody handled yet (this removal killed it, or the container ended just before)
    // is handled here: claimed, so the monitor starts no exit command that would find the
    // container gone after `rm` returned (and touch a root its owner may be deleting).
    const exit = readExit(paths.monitor);
    if (exit && claimExit(paths.monitor) && c.state.Status !== 'created') this.events.container(c, 'die', { exitCode: String(exit.exitCode) });
    this.records.transaction(() => {
      const fresh = this.records.get(c.id);
      if (fresh) this.saveState(c.id, { ...(JSON.parse(fresh.state) as ContainerState), Status: 'removing' });
    });
    // After an exit the root is unmounted with the directory's deletion, after the answer.
    if (opts.exitedMonitor === undefined) unmountRootfs(paths.rootfs);
    this.volumes.release(c.id);
    span('remove: network endpoints', () => this.networks?.removed(c, opts.exitedMonitor !== undefined ? { deferVeth: true, deferNetns: true } : {}));
    await span('remove: monitor\'s runtime delete', () => this.runtimeDeleted(c, paths.monitor, opts.exitedMonitor));
    span('remove: files', () => this.removeFiles(c.id, paths, opts.exitedMonitor !== undefined));
    span('remove: row', () => this.records.delete(c.id));
    if (opts.volumes) await this.removeAnonymousVolumes(c);
    this.events.container(c, 'destroy');
    return c;
  }

  /**
   * The monitor deletes the runtime's container when it ends; a second `runtime delete` (a
   * whole runc start, ~20 ms of CPU) only when the runtime still has state for it. Right after
   * an exit (`run --rm`) the monitor's own delete is usually still running. When that monitor is
   * still alive it is left to finish while the caller gets its answer (util/after-reply.ts):
   * nothing hull shows depends on it (the row and files are gone, the id is never reused), and
   * what it may leave (it was killed midway) is deleted after it ended.
   */
  private async runtimeDeleted(c: Container, stateDir: string, exitedMonitor?: number): Promise<void> {
    const runtime = new Runtime(c.state.Runtime || chooseRuntime(), runtimeRoot(this.root));
    const left = (): boolean => existsSync(join(runtime.root, c.id));
    if (exitedMonitor !== undefined && exitedMonitor > 0 && isMonitorAlive(exitedMonitor)) {
      afterReply(async () => {
        const deadline = Date.now() + MONITOR_FINISH_MS;
        while (isMonitorAlive(exitedMonitor) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        if (left()) await runtime.delete(c.id);
      });
      return;
    }
    await monitorFinished(stateDir);
    if (left()) await runtime.delete(c.id);
  }

  /**
   * The container's directory and its monitor's. Synchronous: a dozen small entries, where
   * async rm pays a thread-pool round trip each. After an exit (--rm) they are renamed out of the
   * way (one syscall each) and deleted after the caller got its answer: the unlinks wait on the
   * filesystem's journal, 2-4 ms here, 15-40 ms with other processes writing. The container's
   * root goes with them: still mounted (its overlay moves with the renamed directory), unmounted
   * after the answer (0.5-12 ms here; nothing sees it: the row is gone and the container's
   * processes with it). What a process killed before that leaves is swept, unmounted first, by
   * the next such removal, after its answer too (the names carry the pid).
   */
  private removeFiles(id: string, paths: { dir: string; rootfs: string; monitor: string }, afterExit: boolean): void {
    const trash = join(this.root, 'tmp', 'removed');
    const moved: string[] = [];
    // An entry there is deleted only once it is harmless: the network namespace of its id
    // removed (a --rm container's goes after the answer, fastRelease's deferNetns, in work that
    // may run alongside this; an entry deleted first would leave it to nobody) and its root
    // unmounted. Rejects while the root stays mounted (a recursive delete would descend into it).
    const release = async (entry: string): Promise<void> => {
      const entryId = trashEntryId(basename(entry));
      if (entryId) await removeNetnsAsync(entryId);
      await unmountRootfsAsync(join(entry, basename(paths.rootfs)));
    };
    if (afterExit) {
      // Entries a process killed before its after-reply work left behind.
      afterReply(() => sweepDeadPidEntries(trash, release));
      try {
        mkdirSync(trash, { recursive: true, mode: 0o700 });
        for (const [i, dir] of [paths.dir, paths.monitor].entries()) {
          const to = join(trash, trashEntryName(id, i));
          try {
            renameSync(dir, to);
            moved.push(to);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
      } catch {
        // removed right here instead (below)
      }
    }
    // Not moved (no exit, or the rename failed): removed here, the root unmounted first.
    if (afterExit && existsSync(paths.dir)) unmountRootfs(paths.rootfs);
    for (const dir of [paths.dir, paths.monitor]) rmSync(dir, { recursive: true, force: true });
    if (moved.length === 0) return;
    afterReply(async () => {
      for (const dir of moved) {
        // On the thread pool: `hull serve`'s loop stays free to answer meanwhile. Still
        // mounted: left for the sweep.
        const released = await release(dir).then(() => true, () => false);
        if (released) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    });
  }

  /** `rm -v`, `--rm`: the container's anonymous volumes, unless another container still uses one (--volumes-from). */
  private async removeAnonymousVolumes(c: Container): Promise<void> {
    for (const m of c.doc.MountPoints ?? []) {
      if (m.Type !== 'volume' || !m.Anonymous || !m.Name) continue;
      if (this.volumeUsers(m.Name).length > 0) continue;
      await this.volumes.remove(m.Name).catch(() => undefined);
    }
  }

  /** Containers (any state) whose mounts name volume `name`: what `volume rm` refuses for. */
  volumeUsers(name: string): Container[] {
    return this.records
      .list()
      .map((r) => this.load(r))
      .filter((c) => (c.doc.MountPoints ?? []).some((m) => m.Type === 'volume' && m.Name === name));
  }

  /**
   * No restart policy after this. The container may have exited on its own since the caller
   * looked and be waiting out its restart backoff: that restart is cancelled here too.
   */
  private markStopped(c: Container): void {
    this.transition(c, (cur) => ({
      ...cur,
      ...(cur.Status === 'restarting' && cur.MonitorPid <= 0 ? { Status: 'exited' as const, Restarting: false } : {}),
      ManuallyStopped: true,
    }));
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

const RESTARTER_FILE = 'restarter.pid';
/** How long a monitor that recorded an exit may take to delete the runtime's container and end. */
const MONITOR_FINISH_MS = 2000;

/**
 * A monitor that recorded its container's exit (exit.json) and still has the container's pid
 * file is finishing: it removes the pid file right after its `runtime delete`. Waits for that,
 * bounded (a monitor killed midway leaves the file; the caller then deletes by itself).
 */
async function monitorFinished(stateDir: string): Promise<void> {
  if (!existsSync(join(stateDir, STATE_FILES.exit))) return;
  const deadline = Date.now() + MONITOR_FINISH_MS;
  while (existsSync(join(stateDir, STATE_FILES.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
}

/** The exit a container gets when its monitor died without recording one (killed with it). */
/**
 * A removed container's directory (i 0) or its monitor's (1) in ROOT/tmp/removed: named after
 * this process, so the sweep knows when its deleter died, and after the container, so the
 * sweep can undo what a plain delete cannot (its network namespace).
 */
function trashEntryName(id: string, i: number): string {
  return `${process.pid}-${id}-${i}`;
}

function trashEntryId(name: string): string | undefined {
  return /^\d+-([0-9a-f]{64})-\d$/.exec(name)?.[1];
}

function lostExit(): ExitInfo {
  return { exitCode: 137, signal: 9, oomKilled: false, finishedAt: nowIso() };
}

const EXIT_CLAIM_FILE = 'exit-handled';

/**
 * Whether the monitor's exit command has anything to do: an exit recorded by the monitor that
 * nobody claimed. Looked at before the command opens the state root, because it usually runs
 * after the exit was handled already (by `rm -f`, `stop`, or `hull serve`'s wait) and may run
 * after its caller returned and the root is being deleted: it must not touch the root then.
 */
export function exitUnclaimed(root: string, id: string): boolean {
  const dir = containerPaths(root, id).monitor;
  return existsSync(join(dir, STATE_FILES.exit)) && !existsSync(join(dir, EXIT_CLAIM_FILE));
}

/** True for the first caller only: the claim is a file created exclusively. */
function claimExit(stateDir: string): boolean {
  try {
    closeSync(openSync(join(stateDir, EXIT_CLAIM_FILE), 'wx'));
    return true;
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The `hull _exited` process waiting to restart the container is still there. */
function restarterAlive(containerDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(containerDir, RESTARTER_FILE), 'utf8'));
  } catch {
    // Not written yet (the exit command is between its state change and the file) or already
    // removed (it is starting the container): both mean it is at work.
    return true;
  }
  return pid > 0 && processAlive(pid);
}

/** SIGKILL every hull-monitor whose command line names container `id`; found through /proc. */
function killStaleMonitors(id: string): void {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0');
    } catch {
      continue;
    }
    if (!args[0]?.endsWith('hull-monitor')) continue;
    const i = args.indexOf('--id');
    if (i === -1 || args[i + 1] !== id || !isMonitorAlive(Number(p))) continue;
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
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
