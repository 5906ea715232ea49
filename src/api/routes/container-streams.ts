/** Container endpoints that stream: logs, attach, stats, export, archive. */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detachFilter, parseDetachKeys } from '../../util/detach-keys.js';
import { followLogs, readLogs, type LogLine } from '../../container/logs.js';
import { attach, type AttachOptions, type Attachment } from '../../container/monitor.js';
import { containerPaths } from '../../container/paths.js';
import { containerStats } from '../../engine/container-ops.js';
import { archiveFromContainer, exportContainer, extractToContainer, statContainerPath, type PathStat } from '../../engine/container-fs.js';
import type { Container } from '../../engine/containers.js';
import { HullError, messageOf } from '../../util/errors.js';
import { boolParam, sendStatus, stdcopyFrame, type Ctx, type Route } from '../http.js';
import type { PendingAttach } from '../state.js';
import { hijackStdio, writeAwait } from '../streams.js';

function isLive(c: Container): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting';
}

/** `since`/`until` as the docker CLI sends them: Unix seconds with an optional fraction. */
function unixParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new HullError('INVALID_ARGUMENT', `invalid value for ${name}: ${v}`);
  return Number(v) * 1000;
}

async function logs(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const wantOut = boolParam(q, 'stdout');
  const wantErr = boolParam(q, 'stderr');
  if (!wantOut && !wantErr) throw new HullError('INVALID_ARGUMENT', 'Bad parameters: you must choose at least one stream');
  const svc = ctx.engine.containers;
  const c = svc.get(ctx.params[0]!);
  if (c.doc.HostConfig.LogConfig.Type === 'none') throw new HullError('INVALID_ARGUMENT', 'configured logging driver does not support reading');
  const tailRaw = q.get('tail');
  const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? undefined : Number(tailRaw);
  if (tail !== undefined && !Number.isInteger(tail)) throw new HullError('INVALID_ARGUMENT', `invalid value for "tail": ${tailRaw}`);
  const since = unixParam(q, 'since');
  const until = unixParam(q, 'until');
  const timestamps = boolParam(q, 'timestamps');
  const tty = c.doc.Config.Tty;
  const path = containerPaths(ctx.engine.root, c.id).logPath;
  const { res } = ctx;
  res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const encode = (l: LogLine): Buffer | undefined => {
    if ((l.stream === 'stderr' && !wantErr) || (l.stream === 'stdout' && !wantOut)) return undefined;
    const payload = Buffer.from(timestamps ? `${l.time} ${l.log}` : l.log);
    return tty ? payload : stdcopyFrame(l.stream === 'stderr' ? 2 : 1, payload);
  };
  const range = { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
  const read = await readLogs(path, { ...range, ...(tail !== undefined ? { tail } : {}) });
  for (const l of read.lines) {
    if (abort.signal.aborted) return;
    const b = encode(l);
    if (b) await writeAwait(res, b);
  }
  if (boolParam(q, 'follow') && (until === undefined || until > Date.now())) {
    const running = (): boolean => {
      const now = svc.find(c.id);
      return now !== undefined && isLive(now);
    };
    await followLogs(path, read.liveOffset, range, (l) => {
      const b = encode(l);
      if (b && res.writable) res.write(b);
    }, () => !running() || abort.signal.aborted, abort.signal);
  }
  res.end();
}

/**
 * Park an attach until its container starts. The start request of this server takes it and
 * connects it before `runtime start` (what `docker run` relies on); a start by another process
 * is noticed by polling the state. Exactly one of the two connects it: once a start has taken
 * the parked attach, the poll stops for good, because the state reads `running` while that
 * start is still in `runtime start` (the reconcile on read sees runc's exec.fifo consumed), and
 * a second attach there would deliver every byte twice. An attachment that arrives after the
 * wait is over (the client left) is detached, never left connected.
 */
function attachWhenStarted(ctx: Ctx, id: string, options: AttachOptions, clientGone: () => boolean): Promise<Attachment | undefined> {
  const svc = ctx.engine.containers;
  return new Promise<Attachment | undefined>((resolve, reject) => {
    let settled = false;
    const settle = (a: Attachment | undefined, e?: unknown): void => {
      if (settled) {
        a?.detach();
        return;
      }
      settled = true;
      clearInterval(poll);
      withdraw();
      if (e) reject(e instanceof Error ? e : new Error(messageOf(e)));
      else resolve(a);
    };
    const pending: PendingAttach = { options, attached: (a) => settle(a), failed: (e) => settle(undefined, e) };
    const withdraw = ctx.state.addPendingAttach(id, pending);
    const poll = setInterval(() => {
      if (pending.taken) return clearInterval(poll); // the start that took it settles it
      if (clientGone()) return settle(undefined);
      const now = svc.find(id);
      if (!now) return settle(undefined);
      if (now.state.Status !== 'running') return;
      clearInterval(poll);
      withdraw();
      attach(containerPaths(ctx.engine.root, id).monitor, options).then((a) => settle(a), (e: unknown) => settle(undefined, e));
    }, 200);
  });
}

/**
 * POST /containers/{id}/attach: hijack, then relay the container's stdio through its monitor.
 * A container that is not running yet (docker run attaches before it starts) is connected by
 * the start request, so its first output is not lost; or, when something else starts it, as
 * soon as it is seen running.
 */
async function attachRoute(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const svc = ctx.engine.containers;
  const c = svc.get(ctx.params[0]!);
  const tty = c.doc.Config.Tty;
  const keys = parseDetachKeys(q.get('detachKeys') || 'ctrl-p,ctrl-q');
  const wantIn = boolParam(q, 'stdin');
  const { conn, stdout, stderr } = hijackStdio(ctx, tty, { stdout: boolParam(q, 'stdout'), stderr: boolParam(q, 'stderr') });
  if (boolParam(q, 'logs')) {
    for (const l of (await readLogs(containerPaths(ctx.engine.root, c.id).logPath, {})).lines) {
      await new Promise<void>((r) => (l.stream === 'stderr' ? stderr : stdout).write(Buffer.from(l.log), () => r()));
    }
  }
  if (!boolParam(q, 'stream')) return conn.end();
  let attachment: Attachment | undefined;
  let clientGone = false;
  const stdin: Readable | undefined = wantIn && c.doc.Config.OpenStdin && conn.input ? (tty ? conn.input.pipe(detachFilter(keys, () => attachment?.detach())) : conn.input) : undefined;
  const options: AttachOptions = { stdout, stderr, tty, ...(stdin ? { stdin } : {}), closeStdinOnEnd: c.doc.Config.StdinOnce };
  void conn.closed.then(() => {
    clientGone = true;
    attachment?.detach();
  });
  try {
    const monitor = containerPaths(ctx.engine.root, c.id).monitor;
    attachment = isLive(c) ? await attach(monitor, options) : await attachWhenStarted(ctx, c.id, options, () => clientGone);
  } catch {
    return conn.end();
  }
  if (!attachment) return conn.end();
  if (clientGone) {
    attachment.detach();
    return;
  }
  const removeLive = ctx.state.addAttachment(c.id, attachment);
  try {
    await attachment.done;
  } catch {
    // the monitor connection failed: end the client's stream the same way
  } finally {
    removeLive();
    conn.end();
  }
}

async function stats(ctx: Ctx): Promise<void> {
  const svc = ctx.engine.containers;
  const c = svc.get(ctx.params[0]!);
  const stream = boolParam(ctx.query, 'stream', true);
  const oneShot = boolParam(ctx.query, 'one-shot');
  const { res } = ctx;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  let gone = false;
  res.once('close', () => (gone = true));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  let previous = containerStats(svc, c.id);
  if (!stream) {
    // Docker takes two samples a second apart so that CPU usage can be computed (one-shot: one).
    if (!oneShot) {
      await sleep(1000);
      if (gone) return;
      previous = containerStats(svc, c.id, previous);
    }
    res.end(`${JSON.stringify(previous)}\n`);
    return;
  }
  while (!gone) {
    await writeAwait(res, `${JSON.stringify(previous)}\n`);
    await sleep(1000);
    if (gone) break;
    const now = svc.find(c.id);
    if (!now) break;
    previous = containerStats(svc, c.id, previous);
  }
  res.end();
}

async function sendTar(ctx: Ctx, tar: Readable, headers: Record<string, string> = {}): Promise<void> {
  ctx.res.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers });
  ctx.res.once('close', () => tar.destroy());
  await pipeline(tar, ctx.res).catch(() => undefined);
}

async function exportRoute(ctx: Ctx): Promise<void> {
  await sendTar(ctx, await exportContainer(ctx.engine, ctx.params[0]!));
}

/** Go's os.FileMode bits, which is what the docker CLI reads from the stat header. */
function goFileMode(s: PathStat): number {
  // Arithmetic, not bitwise: JavaScript's | works on signed 32 bits and bit 31 is ModeDir.
  let m = s.mode & 0o777;
  if (s.isDir) m += 2 ** 31;
  if (s.isSymlink) m += 2 ** 27;
  if (s.mode & 0o4000) m += 2 ** 23;
  if (s.mode & 0o2000) m += 2 ** 22;
  if (s.mode & 0o1000) m += 2 ** 20;
  return m;
}

function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: goFileMode(s), mtime: s.mtime, linkTarget: s.linkTarget })).toString('base64');
}

function archivePath(ctx: Ctx): string {
  const p = ctx.query.get('path');
  if (!p) throw new HullError('INVALID_ARGUMENT', 'path is required');
  return p;
}

async function archiveHead(ctx: Ctx): Promise<void> {
  const path = archivePath(ctx);
  const s = await statContainerPath(ctx.engine, ctx.params[0]!, path);
  if (!s) throw new HullError('NOT_FOUND', `Could not find the file ${path} in container ${ctx.params[0]!}`);
  ctx.res.setHeader('X-Docker-Container-Path-Stat', statHeader(s));
  sendStatus(ctx.res, 200);
}

async function archiveGet(ctx: Ctx): Promise<void> {
  const { stat, tar } = await archiveFromContainer(ctx.engine, ctx.params[0]!, archivePath(ctx));
  await sendTar(ctx, tar, { 'X-Docker-Container-Path-Stat': statHeader(stat) });
}

async function archivePut(ctx: Ctx): Promise<void> {
  await extractToContainer(ctx.engine, ctx.params[0]!, archivePath(ctx), ctx.req, {
    noOverwriteDirNonDir: boolParam(ctx.query, 'noOverwriteDirNonDir', true),
    copyUIDGID: boolParam(ctx.query, 'copyUIDGID'),
  });
  sendStatus(ctx.res, 200);
}

export const containerStreamRoutes: Route[] = [
  { method: 'GET', path: '/containers/{id}/logs', handler: logs },
  { method: 'POST', path: '/containers/{id}/attach', handler: attachRoute },
  { method: 'GET', path: '/containers/{id}/stats', handler: stats },
  { method: 'GET', path: '/containers/{id}/export', handler: exportRoute },
  { method: 'HEAD', path: '/containers/{id}/archive', handler: archiveHead },
  { method: 'GET', path: '/containers/{id}/archive', handler: archiveGet },
  { method: 'PUT', path: '/containers/{id}/archive', handler: archivePut },
];
