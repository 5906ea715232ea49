/**
 * Verbs around a running container: exec, attach, top, stats, pause, unpause, rename, update,
 * port, container prune; each also as `hull container <verb>`. Docker's flags, output and exit
 * codes: daemon errors print `Error response from daemon: …` and exit 1.
 */
import { closeSync, openSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Command } from 'commander';
import {
  containerPorts,
  containerStats,
  containerTop,
  execInContainer,
  parsePruneFilters,
  pauseContainer,
  pruneContainers,
  renameContainer,
  unpauseContainer,
  updateContainer,
  type UpdateRequest,
} from '../../engine/container-ops.js';
import type { ContainerService } from '../../engine/containers.js';
import { ExecStartError } from '../../container/exec.js';
import { attach } from '../../container/monitor.js';
import { containerPaths } from '../../container/paths.js';
import { summarize, type StatsJSON } from '../../container/stats.js';
import { HullError, isHullError } from '../../util/errors.js';
import { collect, confirm, DAEMON_ERROR, daemonError, eachName as eachContainer, out, withEngine } from '../context.js';
import { parseFilterTime } from '../../util/time-args.js';
import { detachFilter, parseDetachKeys } from '../../util/detach-keys.js';
import { terminalSizing } from '../terminal.js';
import { bytesSize, humanSize, parseBytes } from '../../util/units.js';
import { formatRows, tabwrite } from '../format.js';
import { envFromFlags, parseRestart } from './run-options.js';

// ---- exec --------------------------------------------------------------------------------

interface ExecFlags {
  detach?: boolean;
  detachKeys?: string;
  env?: string[];
  envFile?: string[];
  interactive?: boolean;
  privileged?: boolean;
  tty?: boolean;
  user?: string;
  workdir?: string;
}

/** Whether runc will find a terminal to take over: on any of our stdio, or /dev/tty. */
function haveTerminal(): boolean {
  if (process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY) return true;
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

async function execCommand(name: string, cmd: string[], f: ExecFlags): Promise<number> {
  const tty = f.tty ?? false;
  const interactive = f.interactive ?? false;
  if (tty && interactive && !process.stdin.isTTY && !f.detach) {
    process.stderr.write('the input device is not a TTY\n');
    return DAEMON_ERROR;
  }
  if (tty && !f.detach && !haveTerminal()) {
    // runc takes over the caller's terminal for -t (see container/exec.ts); there is none.
    process.stderr.write('hull exec -t needs a terminal on stdin, stdout or stderr\n');
    return DAEMON_ERROR;
  }
  if (f.detachKeys !== undefined) parseDetachKeys(f.detachKeys);
  const env = envFromFlags(f.envFile, f.env);
  return withEngine(async (engine) => {
    try {
      return await execInContainer(engine.containers, name, {
        cmd,
        env,
        ...(f.user !== undefined ? { user: f.user } : {}),
        ...(f.workdir !== undefined ? { workingDir: f.workdir } : {}),
        privileged: f.privileged ?? false,
        // Detached, -t has no terminal to connect: the process runs without one.
        tty: tty && !f.detach,
        stdin: interactive,
        detach: f.detach ?? false,
        ...(tty && process.stdout.isTTY ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}),
      });
    } catch (e) {
      if (e instanceof ExecStartError) {
        process.stderr.write(`${e.message}\n`);
        return e.exitStatus;
      }
      return daemonError(e);
    }
  });
}

// ---- attach ------------------------------------------------------------------------------

interface AttachFlags {
  stdin?: boolean;
  sigProxy?: boolean;
  detachKeys?: string;
}

async function attachCommand(name: string, f: AttachFlags): Promise<number> {
  return withEngine(async (engine) => {
    let c;
    try {
      c = engine.containers.get(name);
    } catch (e) {
      return daemonError(e);
    }
    // The CLI's own checks in Docker (after inspect), hence no "Error response from daemon".
    const refusal =
      c.state.Status === 'paused'
        ? 'You cannot attach to a paused container, unpause it first'
        : c.state.Status === 'restarting'
          ? 'You cannot attach to a restarting container, wait until it is running'
          : c.state.Status !== 'running'
            ? 'You cannot attach to a stopped container, start it first'
            : undefined;
    if (refusal) {
      process.stderr.write(`${refusal}\n`);
      return DAEMON_ERROR;
    }
    const tty = c.doc.Config.Tty;
    const withStdin = (f.stdin ?? true) && c.doc.Config.OpenStdin;
    if (tty && withStdin && !process.stdin.isTTY) {
      process.stderr.write('the input device is not a TTY\n');
      return DAEMON_ERROR;
    }
    const raw = tty && withStdin && process.stdin.isTTY;
    let detach: (() => void) | undefined;
    const keys = parseDetachKeys(f.detachKeys ?? 'ctrl-p,ctrl-q');
    // Detach keys are read from stdin whatever the terminal mode, as Docker does.
    const stdin = withStdin ? process.stdin.pipe(detachFilter(keys, () => detach?.())) : undefined;
    if (raw) process.stdin.setRawMode(true);
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
    const forward = (sig: NodeJS.Signals): void => {
      void engine.containers.kill(c.id, sig).catch(() => undefined);
    };
    try {
      let attachment;
      try {
        attachment = await attach(containerPaths(engine.root, c.id).monitor, {
          ...(stdin ? { stdin } : {}),
          stdout: process.stdout,
          stderr: process.stderr,
          tty,
          // Docker's attach leaves the container's stdin open when ours ends, unless StdinOnce.
          closeStdinOnEnd: c.doc.Config.StdinOnce,
          ...terminalSizing(tty),
        });
      } catch (e) {
        return daemonError(e);
      }
      detach = () => attachment.detach();
      // --sig-proxy (default on) passes our signals to the container, only without a tty.
      if (!tty && (f.sigProxy ?? true)) for (const s of signals) process.on(s, forward);
      const exit = await attachment.done;
      if (!exit) return 0;
      await engine.containers.exited(c.id).catch(() => undefined);
      return exit.exitCode;
    } finally {
      for (const s of signals) process.off(s, forward);
      if (raw) process.stdin.setRawMode(false);
      process.stdin.unpipe();
      process.stdin.pause();
    }
  });
}

// ---- stats -------------------------------------------------------------------------------

interface StatsFlags {
  all?: boolean;
  stream?: boolean;
  trunc?: boolean;
  format?: string;
}

const STATS_TITLES: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

const DEFAULT_STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/**
 * Go's `%.2f`: rounds the exact binary value half to even (2/64 = 3.125 → "3.12"), where
 * JavaScript's toFixed rounds half up ("3.13").
 */
export function goFixed2(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const neg = v < 0;
  const exact = Math.abs(v).toFixed(100);
  const dot = exact.indexOf('.');
  let digits = exact.slice(0, dot) + exact.slice(dot + 1, dot + 3);
  const rest = exact.slice(dot + 3);
  const up = rest[0]! > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || Number(digits[digits.length - 1]) % 2 === 1));
  if (up) digits = (BigInt(digits) + 1n).toString().padStart(3, '0');
  const text = `${digits.slice(0, -2) || '0'}.${digits.slice(-2)}`;
  return neg && /[1-9]/.test(text) ? `-${text}` : text;
}

function percent(v: number): string {
  return `${goFixed2(v)}%`;
}

/** One row as Docker's stats formatter renders it (formatter_stats.go). */
export function statsRow(given: string, s: StatsJSON, noTrunc: boolean): Record<string, string> {
  const v = summarize(s);
  return {
    Container: given,
    ID: noTrunc ? s.id : s.id.slice(0, 12),
    Name: s.name.replace(/^\//, ''),
    CPUPerc: percent(v.cpuPercent),
    MemUsage: `${bytesSize(v.memory)} / ${bytesSize(v.memoryLimit)}`,
    MemPerc: percent(v.memoryPercent),
    NetIO: `${humanSize(v.networkRx)} / ${humanSize(v.networkTx)}`,
    BlockIO: `${humanSize(v.blockRead)} / ${humanSize(v.blockWrite)}`,
    PIDs: String(v.pids),
  };
}

const STATS_INTERVAL_MS = 1000;

async function statsCommand(names: string[], f: StatsFlags): Promise<void> {
  const format = f.format || DEFAULT_STATS_FORMAT;
  const noTrunc = f.trunc === false;
  const live = f.stream !== false;
  await withEngine(async (engine) => {
    // Named containers stay listed (a stopped one shows zeros); otherwise the set is refreshed
    // every round, as Docker follows containers starting and stopping.
    const targets = (): { given: string; id: string }[] => {
      if (names.length > 0) return names.map((n) => ({ given: n, id: engine.containers.get(n).id }));
      return engine.containers
        .list()
        .filter((c) => f.all || c.state.Status === 'running' || c.state.Status === 'paused')
        .reverse()
        .map((c) => ({ given: c.id.slice(0, 12), id: c.id }));
    };
    let list: { given: string; id: string }[];
    try {
      list = targets();
    } catch (e) {
      process.exitCode = daemonError(e);
      return;
    }
    const previous = new Map<string, StatsJSON>();
    const sample = (): { given: string; stats: StatsJSON }[] =>
      list.flatMap((t) => {
        try {
          const s = containerStats(engine.containers, t.id, previous.get(t.id));
          previous.set(t.id, s);
          return [{ given: t.given, stats: s }];
        } catch (e) {
          if (isHullError(e, 'NOT_FOUND')) return [];
          throw e;
        }
      });
    const render = (rows: { given: string; stats: StatsJSON }[]): string => formatRows(format, rows.map((r) => statsRow(r.given, r.stats, noTrunc)), STATS_TITLES);

    // CPU % needs two samples: the first only primes `previous`, as the daemon's first one does.
    sample();
    await sleep(STATS_INTERVAL_MS);
    if (!live) {
      process.stdout.write(render(sample()));
      return;
    }
    let stopped = false;
    const stop = (): void => {
      stopped = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      while (!stopped) {
        if (names.length === 0) list = targets();
        // Docker clears the screen and redraws from the top each round.
        process.stdout.write(`\x1b[2J\x1b[H${render(sample())}`);
        await sleep(STATS_INTERVAL_MS);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- update ------------------------------------------------------------------------------

interface UpdateFlags {
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
  pidsLimit?: string;
  restart?: string;
}

function intFlag(v: string, flag: string): number {
  if (!/^-?\d+$/.test(v)) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/** `--cpus 1.5` → NanoCPUs, exactly (Docker parses with big.Rat). */
export function parseCpus(v: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(v);
  if (!m || v === '' || v === '.') throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--cpus" flag: failed to parse ${v} as a rational number`);
  const frac = (m[2] ?? '').padEnd(9, '0');
  if (/[1-9]/.test(frac.slice(9))) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--cpus" flag: value is too precise`);
  return Number(m[1] || '0') * 1e9 + Number(frac.slice(0, 9));
}

export function toUpdateRequest(f: UpdateFlags): UpdateRequest {
  const u: UpdateRequest = {};
  if (f.memory !== undefined) u.Memory = parseBytes(f.memory);
  if (f.memorySwap !== undefined) u.MemorySwap = f.memorySwap === '-1' ? -1 : parseBytes(f.memorySwap);
  if (f.cpus !== undefined) u.NanoCpus = parseCpus(f.cpus);
  if (f.cpuShares !== undefined) u.CpuShares = intFlag(f.cpuShares, '--cpu-shares');
  if (f.cpuQuota !== undefined) u.CpuQuota = intFlag(f.cpuQuota, '--cpu-quota');
  if (f.cpuPeriod !== undefined) u.CpuPeriod = intFlag(f.cpuPeriod, '--cpu-period');
  if (f.pidsLimit !== undefined) u.PidsLimit = intFlag(f.pidsLimit, '--pids-limit');
  if (f.restart !== undefined) u.RestartPolicy = parseRestart(f.restart);
  return u;
}

// ---- prune -------------------------------------------------------------------------------

// ---- registration ------------------------------------------------------------------------

type Register = (cmd: Command) => void;

export function registerContainerOpsCommands(program: Command): void {
  const execCmd: Register = (cmd) =>
    cmd
      .description('Execute a command in a running container')
      .argument('<container>')
      .argument('<command...>')
      .option('-d, --detach', 'Detached mode: run command in the background')
      .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
      .option('-e, --env <list>', 'Set environment variables', collect)
      .option('--env-file <list>', 'Read in a file of environment variables', collect)
      .option('-i, --interactive', 'Keep STDIN open even if not attached')
      .option('--privileged', 'Give extended privileges to the command')
      .option('-t, --tty', 'Allocate a pseudo-TTY')
      .option('-u, --user <string>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
      .option('-w, --workdir <string>', 'Working directory inside the container')
      .passThroughOptions()
      .action(async (name: string, command: string[], f: ExecFlags) => {
        process.exitCode = await execCommand(name, command, f);
      });

  const attachCmd: Register = (cmd) =>
    cmd
      .description("Attach local standard input, output, and error streams to a running container")
      .argument('<container>')
      .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
      .option('--no-stdin', 'Do not attach STDIN')
      .option('--sig-proxy [bool]', 'Proxy all received signals to the process', (v: string) => v !== 'false', true)
      .action(async (name: string, f: AttachFlags) => {
        process.exitCode = await attachCommand(name, f);
      });

  const topCmd: Register = (cmd) =>
    cmd
      .description('Display the running processes of a container')
      .argument('<container>')
      .argument('[ps-options...]')
      .allowUnknownOption()
      .passThroughOptions()
      .action(async (name: string, psOptions: string[]) => {
        await withEngine(async (engine) => {
          try {
            const top = await containerTop(engine.containers, name, psOptions.length > 0 ? psOptions.join(' ') : '-ef');
            const text = [top.Titles, ...top.Processes].map((r) => `${r.join('\t')}\n`).join('');
            // Docker's top uses its own tabwriter settings: minwidth 20, padding 3.
            process.stdout.write(tabwrite(text, 20, 3));
          } catch (e) {
            process.exitCode = daemonError(e);
          }
        });
      });

  const statsCmd: Register = (cmd) =>
    cmd
      .description('Display a live stream of container(s) resource usage statistics')
      .argument('[container...]')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('--format <string>', 'Format output using a custom template')
      .option('--no-stream', 'Disable streaming stats and only pull the first result')
      .option('--no-trunc', 'Do not truncate output')
      .action((names: string[], f: StatsFlags) => statsCommand(names, f));

  // pause and unpause: one verb on each named container, printing each name as Docker does.
  const eachContainerCmd =
    (description: string, verb: (containers: ContainerService, name: string) => Promise<void>): Register =>
    (cmd) =>
      cmd
        .description(description)
        .argument('<container...>')
        .action((names: string[]) =>
          eachContainer(names, async (engine, n) => {
            await verb(engine.containers, n);
            out(n);
          }),
        );
  const pauseCmd = eachContainerCmd('Pause all processes within one or more containers', pauseContainer);
  const unpauseCmd = eachContainerCmd('Unpause all processes within one or more containers', unpauseContainer);

  const renameCmd: Register = (cmd) =>
    cmd
      .description('Rename a container')
      .argument('<container>')
      .argument('<new-name>')
      .action(async (oldName: string, newName: string) => {
        if (oldName.trim() === '' || newName.trim() === '') {
          process.stderr.write('Error: Neither old nor new names may be empty\n');
          process.exitCode = DAEMON_ERROR;
          return;
        }
        await withEngine((engine) => {
          try {
            renameContainer(engine.containers, oldName, newName);
          } catch (e) {
            daemonError(e);
            process.stderr.write(`Error: failed to rename container named ${oldName}\n`);
            process.exitCode = DAEMON_ERROR;
          }
        });
      });

  const updateCmd: Register = (cmd) =>
    cmd
      .description('Update configuration of one or more containers')
      .argument('<container...>')
      .option('-m, --memory <bytes>', 'Memory limit')
      .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
      .option('--cpus <decimal>', 'Number of CPUs')
      .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
      .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
      .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
      .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
      .option('--restart <string>', 'Restart policy to apply when a container exits')
      .action(async (names: string[], f: UpdateFlags) => {
        if (Object.values(f).every((v) => v === undefined)) {
          process.stderr.write('you must provide one or more flags when using this command\n');
          process.exitCode = DAEMON_ERROR;
          return;
        }
        const req = toUpdateRequest(f);
        await eachContainer(names, async (engine, n) => {
          await updateContainer(engine.containers, n, req, cpus().length);
          out(n);
        });
      });

  const portCmd: Register = (cmd) =>
    cmd
      .description('List port mappings or a specific mapping for the container')
      .argument('<container>')
      .argument('[private-port]', 'PRIVATE_PORT[/PROTO]')
      .action(async (name: string, port: string | undefined) => {
        await withEngine((engine) => {
          try {
            const ports = containerPorts(engine.containers, name);
            if (port === undefined) {
              for (const [k, bindings] of Object.entries(ports)) for (const b of bindings ?? []) out(`${k} -> ${b.HostIp}:${b.HostPort}`);
              return;
            }
            const key = port.includes('/') ? port : `${port}/tcp`;
            const bindings = ports[key];
            if (!bindings || bindings.length === 0) {
              process.stderr.write(`Error: No public port '${key}' published for ${name}\n`);
              process.exitCode = DAEMON_ERROR;
              return;
            }
            for (const b of bindings) out(`${b.HostIp}:${b.HostPort}`);
          } catch (e) {
            process.exitCode = daemonError(e);
          }
        });
      });

  // Each verb both top-level (`hull pause`) and under `hull container`, as Docker has them.
  const verbs: [string, Register][] = [
    ['exec', execCmd],
    ['attach', attachCmd],
    ['top', topCmd],
    ['stats', statsCmd],
    ['pause', pauseCmd],
    ['unpause', unpauseCmd],
    ['rename', renameCmd],
    ['update', updateCmd],
    ['port', portCmd],
  ];
  for (const [verb, register] of verbs) register(program.command(verb));
  // `hull container <verb>`: the management command registerContainerCommands created.
  const container = program.commands.find((c) => c.name() === 'container') ?? program.command('container').description('Manage containers');
  for (const [verb, register] of verbs) register(container.command(verb));
  container
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .action(async (f: { force?: boolean; filter?: string[] }) => {
      const filters = parsePruneFilters(f.filter ?? [], (v) => parseFilterTime(v));
      if (!f.force && !(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return;
      const result = await withEngine((e) => pruneContainers(e.containers, filters));
      if (result.ContainersDeleted.length > 0) {
        out('Deleted Containers:');
        for (const id of result.ContainersDeleted) out(id);
        process.stdout.write('\n');
      }
      out(`Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    });
}
