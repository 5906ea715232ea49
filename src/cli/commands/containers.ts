/** Container verbs: run, create, start, stop, kill, rm, restart, ps, logs, wait, inspect. */
import type { Command } from 'commander';
import type { Engine } from '../../engine/engine.js';
import { exitUnclaimed, type Container } from '../../engine/containers.js';
import { containerInspect, commandLine, statusText } from '../../engine/container-views.js';
import { networkNames, portsText, portSummary } from '../../engine/network-views.js';
import { containerPaths } from '../../container/paths.js';
import { followLogs, readLogs, type LogLine } from '../../container/logs.js';
import type { ExitInfo } from '../../container/monitor.js';
import { parsePlatform } from '../../image/platform.js';
import { formatReference, parseNormalizedTagged } from '../../image/reference.js';
import { HullError, isHullError, messageOf } from '../../util/errors.js';
import { chosenRoot, collect, eachName as eachContainer, out, stateExists, withEngine } from '../context.js';
import { detachFilter, parseDetachKeys } from '../../util/detach-keys.js';
import { terminalSizing } from '../terminal.js';
import { labelList } from '../key-values.js';
import { inspectNames, printRows } from '../output.js';
import { parseFilterTime } from '../../util/time-args.js';
import { createProgress } from '../progress.js';
import { humanDuration, timeAgo } from '../../util/units.js';
import { psFilter } from '../../engine/container-filters.js';
import { span } from '../../util/trace.js';
import { addCreateFlags, toCreateRequest, type RunFlags } from './run-options.js';
import { spawnSync } from 'node:child_process';

/** Exit status `hull run` uses when the engine itself failed (Docker's convention). */
const ENGINE_FAILURE = 125;

/** Create, pulling the image first when it is missing (or always, with --pull always). */
async function createWithPull(engine: Engine, image: string, command: string[], flags: RunFlags): Promise<Container> {
  const req = toCreateRequest(image, command, flags);
  const pull = async (): Promise<void> => {
    const ref = formatReference(parseNormalizedTagged(image));
    process.stderr.write(`Unable to find image '${image.includes(':') || image.includes('@') ? image : `${image}:latest`}' locally\n`);
    await engine.pull(ref, { progress: createProgress(process.stderr, process.stderr.isTTY ? 'tty' : 'plain'), ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}) });
  };
  if (flags.pull === 'always') await pull();
  try {
    return await engine.containers.create(req, flags.name);
  } catch (e) {
    if (!isHullError(e, 'IMAGE_NOT_FOUND') || flags.pull === 'never') throw e;
    await pull();
    return engine.containers.create(req, flags.name);
  }
}

/** Attach this terminal/pipes to the container, start it, and return its exit (undefined on detach). */
async function startAttached(engine: Engine, c: Container, interactive: boolean, detachKeys: string): Promise<ExitInfo | undefined> {
  const tty = c.doc.Config.Tty;
  if (tty && interactive && !process.stdin.isTTY) throw new HullError('INVALID_ARGUMENT', 'the input device is not a TTY');
  const raw = tty && interactive && process.stdin.isTTY;
  let detach: (() => void) | undefined;
  const stdin = interactive ? (raw ? process.stdin.pipe(detachFilter(parseDetachKeys(detachKeys), () => detach?.())) : process.stdin) : undefined;
  if (raw) {
    process.stdin.setRawMode(true);
    // libuv's raw mode keeps output processing (ONLCR), so the container's pty line ends
    // (\r\n) would reach the screen as \r\r\n; Docker's raw mode (cfmakeraw) turns it off.
    // setRawMode(false) restores the whole saved termios, this included.
    spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const forward = (sig: NodeJS.Signals): void => {
    void engine.containers.kill(c.id, sig).catch(() => undefined);
  };
  try {
    const { attachment } = await span('run: start', () => engine.containers.start(c.id, {
      ...(stdin ? { stdin } : {}),
      stdout: process.stdout,
      stderr: process.stderr,
      tty,
      ...terminalSizing(tty),
      // run records the exit itself (engine.containers.exited below): the monitor need not start `_exited`.
      claimExit: true,
    }));
    detach = () => attachment!.detach();
    // Without a tty, signals to `hull run` go to the container (Docker's --sig-proxy).
    if (!tty) for (const s of signals) process.on(s, forward);
    const exit = await span('run: workload runs (attachment done)', () => attachment!.done);
    return exit;
  } finally {
    for (const s of signals) process.off(s, forward);
    if (raw) process.stdin.setRawMode(false);
    process.stdin.unpipe();
    process.stdin.pause();
  }
}

async function run(image: string, command: string[], flags: RunFlags & { detachKeys?: string }): Promise<number> {
  return withEngine(async (engine) => {
    if (flags.detach && flags.rm === undefined) flags.rm = false;
    let c: Container;
    try {
      c = await span('run: create', () => createWithPull(engine, image, command, flags));
    } catch (e) {
      if (isHullError(e)) {
        process.stderr.write(`hull: ${e.message}\n`);
        return ENGINE_FAILURE;
      }
      throw e;
    }
    try {
      if (flags.detach) {
        await engine.containers.start(c.id);
        out(c.id);
        return 0;
      }
      const exit = await startAttached(engine, c, flags.interactive ?? false, flags.detachKeys ?? 'ctrl-p,ctrl-q');
      if (!exit) return 0;
      await span('run: exited (record, unmount, network, --rm)', () => engine.containers.exited(c.id));
      if (c.doc.HostConfig.AutoRemove) await span('run: wait removed', () => waitRemoved(engine, c.id));
      return exit.exitCode;
    } catch (e) {
      if (e instanceof Error && 'exitStatus' in e && typeof (e as { exitStatus?: number }).exitStatus === 'number') {
        process.stderr.write(`hull: ${e.message}\n`);
        if (c.doc.HostConfig.AutoRemove) await engine.containers.remove(c.id, { force: true, volumes: true }).catch(() => undefined);
        return (e as unknown as { exitStatus: number }).exitStatus;
      }
      if (isHullError(e)) {
        process.stderr.write(`hull: ${e.message}\n`);
        if (c.doc.HostConfig.AutoRemove) await engine.containers.remove(c.id, { force: true, volumes: true }).catch(() => undefined);
        return ENGINE_FAILURE;
      }
      throw e;
    }
  });
}

/** --rm: Docker's run returns only once the container is gone. */
async function waitRemoved(engine: Engine, id: string): Promise<void> {
  for (let i = 0; i < 100 && engine.containers.records.get(id); i++) await new Promise((r) => setTimeout(r, 50));
  if (engine.containers.records.get(id)) await engine.containers.remove(id, { force: true }).catch(() => undefined);
}

interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
  filter?: string[];
  format?: string;
  trunc?: boolean;
}

async function ps(flags: PsFlags): Promise<void> {
  const noTrunc = flags.trunc === false;
  const net = new Map<string, { ports: string; networks: string }>();
  let list = await withEngine((e) => {
    // Filters that look at networks need the engine open.
    const filter = psFilter(flags.filter ?? [], e.networks);
    return e.containers.list().filter(filter).map((c) => {
      net.set(c.id, { ports: portsText(portSummary(e.networks, c)), networks: networkNames(e.networks, c) });
      return c;
    });
  });
  const limit = flags.latest ? 1 : flags.last !== undefined ? Number(flags.last) : -1;
  const showAll = flags.all || limit > 0 || (flags.filter ?? []).length > 0;
  if (!showAll) list = list.filter((c) => c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting');
  if (limit > 0) list = list.slice(0, limit);
  if (flags.quiet) {
    list.forEach((c) => out(noTrunc ? c.id : c.id.slice(0, 12)));
    return;
  }
  const rows = list.map((c) => {
    const cmd = commandLine(c);
    return {
      ID: noTrunc ? c.id : c.id.slice(0, 12),
      Image: c.doc.Config.Image,
      Command: noTrunc ? `"${cmd}"` : `"${cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd}"`,
      CreatedAt: c.createdAt,
      RunningFor: timeAgo(Date.parse(c.createdAt)),
      Status: statusText(c, humanDuration),
      State: c.state.Status,
      Ports: net.get(c.id)?.ports ?? '',
      Names: c.name,
      Labels: labelList(c.doc.Config.Labels),
      Size: '0B',
      Mounts: (c.doc.MountPoints ?? []).map((m) => { const n = m.Name ?? m.Source; return noTrunc || n.length <= 15 ? n : `${n.slice(0, 15)}…`; }).join(','),
      Networks: net.get(c.id)?.networks ?? '',
    };
  });
  const columns = [
    { key: 'ID', header: 'CONTAINER ID' },
    { key: 'Image', header: 'IMAGE' },
    { key: 'Command', header: 'COMMAND' },
    { key: 'RunningFor', header: 'CREATED' },
    { key: 'Status', header: 'STATUS' },
    { key: 'Ports', header: 'PORTS' },
    { key: 'Names', header: 'NAMES' },
    ...(flags.size ? [{ key: 'Size', header: 'SIZE' }] : []),
  ];
  printRows(rows, columns, flags.format);
}

/** `--since` / `--until`: Docker's time forms (Unix seconds, RFC 3339, a duration back from now). */
function parseTime(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseFilterTime(v);
  } catch (e) {
    throw new HullError('INVALID_ARGUMENT', `invalid value for "${flag}": ${(e as Error).message}`);
  }
}

async function logs(name: string, flags: { follow?: boolean; tail?: string; since?: string; until?: string; timestamps?: boolean }): Promise<void> {
  await withEngine(async (engine) => {
    const c = engine.containers.get(name);
    if (c.doc.HostConfig.LogConfig.Type === 'none') {
      throw new HullError('INVALID_ARGUMENT', 'configured logging driver does not support reading');
    }
    const path = containerPaths(engine.root, c.id).logPath;
    const tail = flags.tail === undefined || flags.tail === 'all' ? undefined : Number(flags.tail);
    if (tail !== undefined && (!Number.isInteger(tail))) throw new HullError('INVALID_ARGUMENT', `invalid value for "tail": ${flags.tail}`);
    const q = { ...(tail !== undefined ? { tail } : {}), ...(parseTime(flags.since, 'since') !== undefined ? { since: parseTime(flags.since, 'since')! } : {}), ...(parseTime(flags.until, 'until') !== undefined ? { until: parseTime(flags.until, 'until')! } : {}) };
    const emit = (l: LogLine): void => {
      const text = flags.timestamps ? `${l.time} ${l.log}` : l.log;
      (l.stream === 'stderr' ? process.stderr : process.stdout).write(text);
    };
    const read = await readLogs(path, q);
    read.lines.forEach(emit);
    if (!flags.follow) return;
    const running = (): boolean => {
      const now = engine.containers.find(c.id);
      return now !== undefined && (now.state.Status === 'running' || now.state.Status === 'paused' || now.state.Status === 'restarting');
    };
    const { tail: _tail, ...rest } = q;
    await followLogs(path, read.liveOffset, rest, emit, () => !running());
  });
}

export function registerContainerCommands(program: Command): void {
  const runCmd = addCreateFlags(
    program
      .command('run')
      .description('Create and run a new container from an image')
      .argument('<image>')
      .argument('[command...]')
      .option('-d, --detach', 'Run container in background and print container ID')
      .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
      .passThroughOptions(),
  );
  runCmd.action(async (image: string, command: string[], flags: RunFlags & { detachKeys?: string }) => {
    process.exitCode = await run(image, command, flags);
  });

  addCreateFlags(program.command('create').description('Create a new container').argument('<image>').argument('[command...]').passThroughOptions()).action(
    async (image: string, command: string[], flags: RunFlags) => {
      const c = await withEngine((e) => createWithPull(e, image, command, { ...flags, detach: true }));
      out(c.id);
    },
  );

  program
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .action(async (names: string[], flags: { attach?: boolean; interactive?: boolean; detachKeys?: string }) => {
      if (flags.attach || flags.interactive) {
        if (names.length > 1) throw new HullError('INVALID_ARGUMENT', 'you cannot start and attach multiple containers at once');
        const code = await withEngine(async (engine) => {
          const c = engine.containers.get(names[0]!);
          const exit = await startAttached(engine, c, flags.interactive ?? false, flags.detachKeys ?? 'ctrl-p,ctrl-q');
          if (exit) await engine.containers.exited(c.id);
          return exit?.exitCode ?? 0;
        });
        process.exitCode = code;
        return;
      }
      await eachContainer(names, async (engine, n) => {
        await engine.containers.start(n);
        out(n);
      });
    });

  program
    .command('stop')
    .description('Stop one or more running containers')
    .argument('<container...>')
    .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .action((names: string[], flags: { timeout?: string; signal?: string }) =>
      eachContainer(names, async (engine, n) => {
        await engine.containers.stop(n, flags.timeout !== undefined ? Number(flags.timeout) : undefined, flags.signal);
        out(n);
      }),
    );

  program
    .command('restart')
    .description('Restart one or more containers')
    .argument('<container...>')
    .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
    .action((names: string[], flags: { timeout?: string }) =>
      eachContainer(names, async (engine, n) => {
        await engine.containers.restart(n, flags.timeout !== undefined ? Number(flags.timeout) : undefined);
        out(n);
      }),
    );

  program
    .command('kill')
    .description('Kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <string>', 'Signal to send to the container', 'KILL')
    .action((names: string[], flags: { signal: string }) =>
      eachContainer(names, async (engine, n) => {
        await engine.containers.kill(n, flags.signal);
        out(n);
      }),
    );

  const rm = (cmd: Command): void => {
    cmd
      .description('Remove one or more containers')
      .argument('<container...>')
      .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
      .action((names: string[], flags: { force?: boolean; volumes?: boolean }) =>
        eachContainer(names, async (engine, n) => {
          await engine.containers.remove(n, flags);
          out(n);
        }),
      );
  };
  rm(program.command('rm'));

  program
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action((names: string[]) =>
      eachContainer(names, async (engine, n) => {
        out(String(await engine.containers.wait(n)));
      }),
    );

  const psCmd = (cmd: Command): void => {
    cmd
      .description('List containers')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('-q, --quiet', 'Only display container IDs')
      .option('-n, --last <int>', 'Show n last created containers (includes all states)')
      .option('-l, --latest', 'Show the latest created container (includes all states)')
      .option('-s, --size', 'Display total file sizes')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--format <string>', 'Format output using a custom template')
      .option('--no-trunc', "Don't truncate output")
      .action((flags: PsFlags) => ps(flags));
  };
  psCmd(program.command('ps'));

  program
    .command('logs')
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
    .option('--since <string>', 'Show logs since timestamp or relative (e.g. 42m for 42 minutes)')
    .option('--until <string>', 'Show logs before a timestamp or relative')
    .option('-t, --timestamps', 'Show timestamps')
    .action((name: string, flags: { follow?: boolean; tail?: string; since?: string; until?: string; timestamps?: boolean }) => logs(name, flags));

  const inspect = (cmd: Command, kind: 'any' | 'container'): void => {
    cmd
      .description('Return low-level information on Docker objects')
      .argument('<name...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes')
      .action((names: string[], flags: { format?: string }) =>
        inspectNames(names, (engine, n) => {
          const c = engine.containers.find(n);
          if (c) return containerInspect(engine.root, engine.images, engine.networks, c);
          if (kind === 'any' && engine.images.find(n)) return engine.inspectImage(n);
          return undefined;
        }, (n) => `Error: No such ${kind === 'any' ? 'object' : 'container'}: ${n}`, flags.format));
  };
  inspect(program.command('inspect'), 'any');

  // The monitor's exit command: record the exit, unmount, --rm or restart. Not for users.
  program
    .command('_exited', { hidden: true })
    .argument('<id>')
    .action((id: string) =>
      // Nothing to do (the usual case: the exit was claimed meanwhile) or no root any more:
      // quit without opening the root, which its owner may be deleting right now.
      !stateExists() || !exitUnclaimed(chosenRoot(), id) ? undefined : withEngine(async (e) => {
        try {
          await e.containers.exited(id);
        } catch (err) {
          // Nobody reads this process's stderr: keep the reason where `inspect` shows it.
          e.containers.noteError(id, `handling the exit failed: ${messageOf(err)}`);
          throw err;
        }
      }, { existing: true }),
    );

  // `hull container <verb>` mirrors the top-level verbs, as Docker's management commands do.
  const container = program.command('container').description('Manage containers');
  psCmd(container.command('ls').alias('list').alias('ps'));
  rm(container.command('rm').alias('remove'));
  inspect(container.command('inspect'), 'container');
}
