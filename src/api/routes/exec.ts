/** Exec: create, start (detached or hijacked), resize, inspect. */
import { execInContainer } from '../../engine/container-ops.js';
import { HullError, messageOf } from '../../util/errors.js';
import { newExec, execInspect, type ExecConfig, type ExecInstance } from '../exec-store.js';
import { hijack, readJson, sendJson, sendStatus, type Ctx, type Route } from '../http.js';
import { framedWriter, nullWriter, rawWriter } from '../streams.js';

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
  if (tty && !detach) throw new HullError('NOT_IMPLEMENTED', 'exec with a TTY over the API is not supported by hull yet; run it without -t');
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
  const conn = hijack(ctx, !tty);
  const stdout = cfg.AttachStdout ? (tty ? rawWriter(conn.out) : framedWriter(conn.out, 1)) : nullWriter();
  const stderr = cfg.AttachStderr ? (tty ? rawWriter(conn.out) : framedWriter(conn.out, 2)) : nullWriter();
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
  getExec(ctx);
  // Without an exec TTY there is nothing to resize (Docker answers 200 the same way).
  sendStatus(ctx.res, 200);
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
