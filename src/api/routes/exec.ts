/** Exec: create, start (detached or hijacked), resize, inspect. */
import { execInContainer } from '../../engine/container-ops.js';
import { HullError, messageOf } from '../../util/errors.js';
import { newExec, execInspect, type ExecConfig, type ExecInstance } from '../exec-store.js';
import { closeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { detachFilter, parseDetachKeys } from '../../util/detach-keys.js';
import type { ExecRequest } from '../../engine/container-ops.js';
import { nativeAddon } from '../../util/native.js';
import { intParam, readJson, sendJson, sendStatus, type Ctx, type Hijacked, type Route } from '../http.js';
import { hijackStdio, rawWriter } from '../streams.js';

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new HullError('INVALID_ARGUMENT', `json: cannot unmarshal into Go struct field ExecOptions.${field} of type []string`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${typeof v} into Go struct field ExecOptions.${field} of type bool`);
  return v;
}

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${typeof v} into Go struct field ExecOptions.${field} of type string`);
  return v;
}

async function create(ctx: Ctx): Promise<void> {
  const b = await readJson(ctx);
  const c = ctx.engine.containers.get(ctx.params[0]!);
  if (c.state.Status === 'paused') throw new HullError('CONFLICT', `Container ${c.id} is paused, unpause the container before exec`);
  if (c.state.Status !== 'running') throw new HullError('CONFLICT', `container ${c.id} is not running`);
  const config: ExecConfig = {
    AttachStdin: bool(b.AttachStdin, 'AttachStdin'),
    AttachStdout: bool(b.AttachStdout, 'AttachStdout'),
    AttachStderr: bool(b.AttachStderr, 'AttachStderr'),
    DetachKeys: str(b.DetachKeys, 'DetachKeys'),
    Tty: bool(b.Tty, 'Tty'),
    Env: strings(b.Env, 'Env'),
    Cmd: strings(b.Cmd, 'Cmd'),
    Privileged: bool(b.Privileged, 'Privileged'),
    User: str(b.User, 'User'),
    WorkingDir: str(b.WorkingDir, 'WorkingDir'),
  };
  if (config.Cmd.length === 0) throw new HullError('INVALID_ARGUMENT', 'No exec command specified');
  const e = newExec(c.id, config);
  ctx.state.execs.set(e.id, e);
  ctx.engine.events.container(c, `exec_create: ${config.Cmd.join(' ')}`, { execID: e.id });
  sendJson(ctx.res, 201, { Id: e.id });
}

function getExec(ctx: Ctx): ExecInstance {
  const e = ctx.state.execs.get(ctx.params[0]!);
  if (!e) throw new HullError('NOT_FOUND', `No such exec instance: ${ctx.params[0]!}`);
  return e;
}

/**
 * POST /exec/{id}/start. Detached: start and answer 200. Otherwise hijack the connection and
 * relay the process's stdio (stdcopy-framed without a TTY) until it exits; the exit code is
 * recorded before the stream ends, so the client's inspect that follows sees it.
 */
async function start(ctx: Ctx): Promise<void> {
  const e = getExec(ctx);
  const b = await readJson(ctx);
  const detach = bool(b.Detach, 'Detach');
  if (e.started) throw new HullError('CONFLICT', `Error: Exec command ${e.id} has already run`);
  const c = ctx.engine.containers.get(e.containerId);
  const cfg = e.config;
  const tty = b.Tty === undefined ? cfg.Tty : bool(b.Tty, 'Tty');
  e.started = true;
  e.running = true;
  ctx.engine.events.container(c, `exec_start: ${cfg.Cmd.join(' ')}`, { execID: e.id });
  const req = { cmd: cfg.Cmd, env: cfg.Env, user: cfg.User || undefined, workingDir: cfg.WorkingDir || undefined, privileged: cfg.Privileged, tty };
  if (detach) {
    try {
      await execInContainer(ctx.engine.containers, c.id, { ...req, detach: true });
    } finally {
      e.running = false;
    }
    return sendStatus(ctx.res, 200);
  }
  const { conn, stdout, stderr } = hijackStdio(ctx, tty, { stdout: cfg.AttachStdout, stderr: cfg.AttachStderr });
  if (tty) {
    await runWithTerminal(ctx, e, req, conn, consoleSize(b.ConsoleSize ?? cfg.ConsoleSize));
    ctx.engine.events.container(c, 'exec_die', { execID: e.id, exitCode: String(e.exitCode) });
    return;
  }
  try {
    e.exitCode = await execInContainer(ctx.engine.containers, c.id, {
      ...req,
      stdin: cfg.AttachStdin,
      ...(cfg.AttachStdin && conn.input ? { stdinStream: conn.input } : {}),
      stdout,
      stderr,
    });
  } catch (err) {
    e.exitCode = 'exitStatus' in (err as object) ? (err as { exitStatus: number }).exitStatus : 126;
    stderr.write(Buffer.from(`${messageOf(err)}\r\n`));
  } finally {
    e.running = false;
    ctx.engine.events.container(c, 'exec_die', { execID: e.id, exitCode: String(e.exitCode) });
    await new Promise<void>((r) => stdout.end(() => r()));
    conn.end();
  }
}

function resize(ctx: Ctx): void {
  const e = getExec(ctx);
  const h = intParam(ctx.query, 'h') ?? 0;
  const w = intParam(ctx.query, 'w') ?? 0;
  if (!e.running) throw new HullError('CONFLICT', `Exec ${e.id} is not running`);
  // Without a TTY there is nothing to resize (Docker answers 200 the same way).
  e.resize?.(h, w);
  sendStatus(ctx.res, 200);
}

function consoleSize(v: unknown): { rows: number; cols: number } | undefined {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isInteger(n) && n >= 0)) return undefined;
  return { rows: v[0] as number, cols: v[1] as number };
}

/**
 * `exec -t` over the API: the server has no terminal for runc to take over, so it makes one (a
 * pty from the native addon) and gives its slave side to runc as stdio; runc relays between it
 * and the process's own pty, and resizes that on SIGWINCH. The master side is the client's
 * stream. Detach keys end the stream and leave the process running, as Docker does.
 */
async function runWithTerminal(ctx: Ctx, e: ExecInstance, req: Omit<ExecRequest, 'terminal'>, conn: Hijacked, size?: { rows: number; cols: number }): Promise<void> {
  const native = nativeAddon();
  const [master, slave] = native.openpty();
  let slaveOpen = true;
  const closeSlave = (): void => {
    if (slaveOpen) closeSync(slave);
    slaveOpen = false;
  };
  native.setWinsize(master, size?.rows || 24, size?.cols || 80);
  const term = new ReadStream(master);
  const termClosed = new Promise<void>((resolve) => term.once('close', () => resolve()));
  term.on('error', () => undefined); // EIO once runc and the process are gone: the end
  let runcPid = 0;
  e.resize = (rows, cols) => {
    native.setWinsize(master, rows, cols);
    if (runcPid > 0) process.kill(runcPid, 'SIGWINCH');
  };
  const out = rawWriter(conn.out);
  term.pipe(out);
  let input: Readable | undefined;
  if (e.config.AttachStdin && conn.input) {
    input = conn.input.pipe(detachFilter(parseDetachKeys(e.config.DetachKeys || 'ctrl-p,ctrl-q'), () => conn.end()));
    input.pipe(term);
  }
  try {
    e.exitCode = await execInContainer(ctx.engine.containers, e.containerId, {
      ...req,
      tty: true,
      // In the process spec too: runc sizes the process's pty at creation, so the first thing
      // it runs already sees it (runc's own first resize from our terminal races the process).
      consoleSize: { rows: size?.rows || 24, cols: size?.cols || 80 },
      terminal: slave,
      onSpawn: (pid) => {
        runcPid = pid;
        e.pid = pid;
        closeSlave();
      },
    });
  } catch (err) {
    e.exitCode = 'exitStatus' in (err as object) ? (err as { exitStatus: number }).exitStatus : 126;
    out.write(Buffer.from(`${messageOf(err)}\r\n`));
  } finally {
    closeSlave();
    e.running = false;
    e.resize = undefined;
    // The rest of the output is still in the pty: read to its end (EIO), then close the stream.
    await Promise.race([termClosed, new Promise((r) => setTimeout(r, 2000))]);
    input?.unpipe(term);
    term.destroy();
    await new Promise<void>((r) => out.end(() => r()));
    conn.end();
  }
}

function inspect(ctx: Ctx): void {
  sendJson(ctx.res, 200, execInspect(getExec(ctx)));
}

export const execRoutes: Route[] = [
  { method: 'POST', path: '/containers/{id}/exec', handler: create },
  { method: 'POST', path: '/exec/{id}/start', handler: start },
  { method: 'POST', path: '/exec/{id}/resize', handler: resize },
  { method: 'GET', path: '/exec/{id}/json', handler: inspect },
];
