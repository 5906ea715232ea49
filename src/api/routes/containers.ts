/** Container endpoints that answer with one JSON document (or none). Streams: container-streams.ts. */
import { cpus } from 'node:os';
import { humanDuration } from '../../util/units.js';
import { parseFilterTime } from '../../util/time-args.js';
import type { Container } from '../../engine/containers.js';
import { psFilter } from '../../engine/container-filters.js';
import { containerInspect, containerSummary } from '../../engine/container-views.js';
import { containerTop, parsePruneFilters, pauseContainer, pruneContainers, renameContainer, unpauseContainer, updateContainer, type UpdateRequest } from '../../engine/container-ops.js';
import { commitContainer, containerChanges } from '../../engine/container-fs.js';
import { containerPaths } from '../../container/paths.js';
import { attach, waitExit } from '../../container/monitor.js';
import { HullError, isHullError } from '../../util/errors.js';
import { toCreateRequest } from '../create-body.js';
import { boolParam, filterParam, intParam, readJson, sendJson, sendStatus, type Ctx, type Route } from '../http.js';
import { nullWriter } from '../streams.js';

/** How long a wait lets the container's attached streams finish delivering before it records the exit (state.streamsEnded). */
const STREAMS_END_MS = 100;

function isLive(c: Container): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting';
}

async function create(ctx: Ctx): Promise<void> {
  const body = await readJson(ctx);
  const name = ctx.query.get('name') ?? undefined;
  const c = await ctx.engine.containers.create(toCreateRequest(body), name || undefined);
  sendJson(ctx.res, 201, { Id: c.id, Warnings: [] });
}

function list(ctx: Ctx): void {
  const filters = filterParam(ctx.query);
  const all = boolParam(ctx.query, 'all');
  const limit = intParam(ctx.query, 'limit') ?? -1;
  const keep = psFilter(filters, ctx.engine.networks);
  // Newest first, as Docker lists them.
  let cs = ctx.engine.containers.list().sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (!all && limit <= 0) cs = cs.filter(isLive);
  cs = cs.filter(keep);
  if (limit > 0) cs = cs.slice(0, limit);
  sendJson(ctx.res, 200, cs.map((c) => containerSummary(c, humanDuration, ctx.engine.networks)));
}

function inspect(ctx: Ctx): void {
  const c = ctx.engine.containers.get(ctx.params[0]!);
  sendJson(ctx.res, 200, containerInspect(ctx.engine.root, ctx.engine.images, ctx.engine.networks, c));
}

async function start(ctx: Ctx): Promise<void> {
  const c = ctx.engine.containers.get(ctx.params[0]!);
  if (c.state.Status === 'running' || c.state.Status === 'paused') return sendStatus(ctx.res, 304);
  const pending = ctx.state.takePendingAttach(c.id);
  if (pending) {
    // An attach that came before the start (docker run): connected before anything runs.
    let result;
    try {
      result = await ctx.engine.containers.start(c.id, pending.options);
    } catch (e) {
      pending.failed(e);
      throw e;
    }
    pending.attached(result.attachment!);
  } else {
    await ctx.engine.containers.start(c.id);
  }
  ctx.state.notifyStarted(c.id);
  sendStatus(ctx.res, 204);
}

async function stop(ctx: Ctx): Promise<void> {
  const c = ctx.engine.containers.get(ctx.params[0]!);
  if (!isLive(c)) return sendStatus(ctx.res, 304);
  const t = intParam(ctx.query, 't');
  await ctx.engine.containers.stop(c.id, t !== undefined && t >= 0 ? t : t === -1 ? 1e6 : undefined, ctx.query.get('signal') || undefined);
  sendStatus(ctx.res, 204);
}

async function restart(ctx: Ctx): Promise<void> {
  const t = intParam(ctx.query, 't');
  await ctx.engine.containers.restart(ctx.params[0]!, t !== undefined && t >= 0 ? t : undefined);
  sendStatus(ctx.res, 204);
}

async function kill(ctx: Ctx): Promise<void> {
  await ctx.engine.containers.kill(ctx.params[0]!, ctx.query.get('signal') || 'KILL');
  sendStatus(ctx.res, 204);
}

async function remove(ctx: Ctx): Promise<void> {
  if (boolParam(ctx.query, 'link')) throw new HullError('INVALID_ARGUMENT', 'links are not supported');
  await ctx.engine.containers.remove(ctx.params[0]!, { force: boolParam(ctx.query, 'force'), volumes: boolParam(ctx.query, 'v') });
  sendStatus(ctx.res, 204);
}

/**
 * POST /containers/{id}/wait?condition=not-running|next-exit|removed. The headers go out at
 * once (docker run sends wait before start and reads it later); the body when the condition
 * holds. A running container's exit is awaited on its monitor's exit file (inotify, as `hull
 * wait`), and recorded here at once: its `die`, and for --rm its removal, need not wait for the
 * monitor's `_exited` process (whichever comes first acts, the engine makes sure only one does).
 * A container not running yet is looked at again when this server starts it, or by polling the
 * shared state (a start by another process). The exit code of a removed container comes from
 * its `die` event.
 */
async function wait(ctx: Ctx): Promise<void> {
  const condition = ctx.query.get('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw new HullError('INVALID_ARGUMENT', `invalid condition: "${condition}"`);
  const svc = ctx.engine.containers;
  const first = svc.get(ctx.params[0]!);
  const { res } = ctx;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const startedAt = first.state.StartedAt;
  const finishedAt = first.state.FinishedAt;
  const monitorDir = containerPaths(ctx.engine.root, first.id).monitor;
  // Bounded: with a restart policy exited() goes on to wait out the backoff, which the client must not wait for.
  const recordExit = (): Promise<unknown> => Promise.race([svc.exited(first.id).catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  let last: Container | undefined = first;
  // The monitor whose exit file was awaited: once seen, polling takes over until the state
  // shows the exit (an exit claimed by the monitor's `_exited` process is recorded by it).
  let awaitedMonitor = 0;
  for (let delay = 20; !gone.signal.aborted; ) {
    const now = svc.find(first.id);
    if (now) last = now;
    if (condition === 'removed') {
      if (!now) break;
    } else if (now === undefined) {
      break;
    } else if (!isLive(now) && now.state.Status !== 'removing') {
      // next-exit: an exit recorded after the wait began (a new start and its end, or the end of the run in progress)
      if (condition === 'not-running' || now.state.FinishedAt !== finishedAt || (isLive(first) && now.state.StartedAt === startedAt)) break;
    }
    if (now && now.state.Status === 'running' && now.state.MonitorPid > 0 && now.state.MonitorPid !== awaitedMonitor) {
      awaitedMonitor = now.state.MonitorPid;
      await waitExit(monitorDir, gone.signal, now.state.MonitorPid).catch(() => undefined);
      if (!gone.signal.aborted) await ctx.state.streamsEnded(first.id, STREAMS_END_MS);
      if (!gone.signal.aborted) await recordExit();
      delay = 20;
      continue;
    }
    // Exited but not yet removed (--rm): the removal is ours to do if nobody has claimed the exit.
    if (now && condition === 'removed' && !isLive(now)) await recordExit();
    await ctx.state.started(first.id, delay, gone.signal);
    delay = Math.min(delay * 2, 200);
  }
  if (gone.signal.aborted) return;
  // Record the exit now if nothing has yet (as the CLI's wait does), so that `die` precedes
  // whatever the client does next.
  if (svc.records.get(first.id)) await recordExit();
  const die = svc.events.records.lastOf(first.id, 'die');
  const code = last && last.state.FinishedAt !== finishedAt ? last.state.ExitCode : die && condition === 'removed' ? Number(die.attributes.exitCode) : (last?.state.ExitCode ?? 0);
  const error = last?.state.Error ? { Error: { Message: last.state.Error } } : {};
  res.end(JSON.stringify({ StatusCode: code, ...error }));
}

function rename(ctx: Ctx): void {
  const name = ctx.query.get('name');
  if (!name) throw new HullError('INVALID_ARGUMENT', 'Neither old nor new names may be empty');
  renameContainer(ctx.engine.containers, ctx.params[0]!, name);
  sendStatus(ctx.res, 204);
}

async function pause(ctx: Ctx): Promise<void> {
  await pauseContainer(ctx.engine.containers, ctx.params[0]!);
  sendStatus(ctx.res, 204);
}

async function unpause(ctx: Ctx): Promise<void> {
  await unpauseContainer(ctx.engine.containers, ctx.params[0]!);
  sendStatus(ctx.res, 204);
}

const UPDATE_NUMBERS = ['Memory', 'MemorySwap', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'PidsLimit'] as const;

async function update(ctx: Ctx): Promise<void> {
  const body = await readJson(ctx);
  const u: UpdateRequest = {};
  for (const k of UPDATE_NUMBERS) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number') throw new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${typeof v} into Go struct field UpdateConfig.${k} of type int64`);
    // The docker CLI sends every field; zero means "unchanged".
    if (v !== 0) u[k] = v;
  }
  const rp = body.RestartPolicy as { Name?: unknown; MaximumRetryCount?: unknown } | undefined;
  if (rp && typeof rp === 'object' && typeof rp.Name === 'string' && rp.Name !== '') {
    u.RestartPolicy = { Name: rp.Name as never, MaximumRetryCount: typeof rp.MaximumRetryCount === 'number' ? rp.MaximumRetryCount : 0 };
  }
  sendJson(ctx.res, 200, await updateContainer(ctx.engine.containers, ctx.params[0]!, u, cpus().length));
}

async function top(ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, await containerTop(ctx.engine.containers, ctx.params[0]!, ctx.query.get('ps_args') || '-ef'));
}

function changes(ctx: Ctx): void {
  sendJson(ctx.res, 200, containerChanges(ctx.engine, ctx.params[0]!));
}

async function prune(ctx: Ctx): Promise<void> {
  const filters = parsePruneFilters(filterParam(ctx.query), (v) => parseFilterTime(v));
  sendJson(ctx.res, 200, await pruneContainers(ctx.engine.containers, filters));
}

/** POST /commit?container=…: the container's changes as a new image (`docker commit`). */
async function commit(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const ref = q.get('container');
  if (!ref) throw new HullError('INVALID_ARGUMENT', 'container is required');
  const repo = q.get('repo');
  const tag = q.get('tag');
  const id = await commitContainer(ctx.engine, ref, {
    ...(repo ? { ref: tag ? `${repo}:${tag}` : repo } : {}),
    ...(q.get('author') ? { author: q.get('author')! } : {}),
    ...(q.get('comment') ? { comment: q.get('comment')! } : {}),
    changes: q.getAll('changes').filter(Boolean),
    pause: boolParam(q, 'pause', true),
  });
  sendJson(ctx.res, 201, { Id: id });
}

/** POST /containers/{id}/resize: the terminal size reaches the container through its monitor. */
async function resize(ctx: Ctx): Promise<void> {
  const h = intParam(ctx.query, 'h') ?? 0;
  const w = intParam(ctx.query, 'w') ?? 0;
  const c = ctx.engine.containers.get(ctx.params[0]!);
  if (!isLive(c)) throw new HullError('CONFLICT', `Container ${c.id} is not running`);
  if (!c.doc.Config.Tty) return sendStatus(ctx.res, 200);
  const live = ctx.state.attachments.get(c.id);
  if (live && live.size > 0) {
    for (const a of live) a.resize(h, w);
  } else {
    const sink = nullWriter();
    try {
      const a = await attach(containerPaths(ctx.engine.root, c.id).monitor, { stdout: sink, stderr: sink, tty: true, size: { rows: h, cols: w } });
      setTimeout(() => a.detach(), 50);
    } catch (e) {
      if (!isHullError(e)) throw e;
    }
  }
  sendStatus(ctx.res, 200);
}

export const containerRoutes: Route[] = [
  { method: 'POST', path: '/containers/create', handler: create },
  { method: 'GET', path: '/containers/json', handler: list },
  { method: 'POST', path: '/containers/prune', handler: prune },
  { method: 'GET', path: '/containers/{id}/json', handler: inspect },
  { method: 'POST', path: '/containers/{id}/start', handler: start },
  { method: 'POST', path: '/containers/{id}/stop', handler: stop },
  { method: 'POST', path: '/containers/{id}/restart', handler: restart },
  { method: 'POST', path: '/containers/{id}/kill', handler: kill },
  { method: 'POST', path: '/containers/{id}/wait', handler: wait },
  { method: 'DELETE', path: '/containers/{id}', handler: remove },
  { method: 'POST', path: '/containers/{id}/rename', handler: rename },
  { method: 'POST', path: '/containers/{id}/pause', handler: pause },
  { method: 'POST', path: '/containers/{id}/unpause', handler: unpause },
  { method: 'POST', path: '/containers/{id}/update', handler: update },
  { method: 'GET', path: '/containers/{id}/top', handler: top },
  { method: 'GET', path: '/containers/{id}/changes', handler: changes },
  { method: 'POST', path: '/containers/{id}/resize', handler: resize },
  { method: 'POST', path: '/commit', handler: commit },
];
