/**
 * `hull build`: docker build's flags and output. Progress goes to stderr in BuildKit's plain
 * format (`#n [i/N] INSTRUCTION`, `#n CACHED`), the image id to stdout with `-q`. A failing RUN
 * exits with the command's status, as docker build does; other failures exit 1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { RunFailedError } from '../../build/builder.js';
import { HullError } from '../../util/errors.js';
import { collect, confirm, out, withEngine } from '../context.js';
import { humanSize } from '../../util/units.js';

interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  label?: string[];
  network?: string;
  iidfile?: string;
  quiet?: boolean;
  progress?: string;
}

/** `--build-arg K=V`, or `K` alone taken from the CLI's environment (skipped when unset there). */
function buildArgs(raw: string[]): Record<string, string> {
  const args: Record<string, string> = {};
  for (const a of raw) {
    const eq = a.indexOf('=');
    if (eq === -1) {
      const v = process.env[a];
      if (v !== undefined) args[a] = v;
    } else args[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return args;
}

function labels(raw: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of raw) {
    const eq = l.indexOf('=');
    out[eq === -1 ? l : l.slice(0, eq)] = eq === -1 ? '' : l.slice(eq + 1);
  }
  return out;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A tar (or a compressed one) on stdin is the context; anything else is a Dockerfile (docker build - < Dockerfile). */
function looksLikeArchive(b: Buffer): boolean {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true;
  return b.length >= 262 && b.subarray(257, 262).toString() === 'ustar';
}

async function build(context: string, flags: BuildFlags): Promise<void> {
  if (flags.progress !== undefined && !['auto', 'plain', 'tty', 'quiet'].includes(flags.progress)) {
    throw new HullError('INVALID_ARGUMENT', `invalid progress mode "${flags.progress}" (auto, plain, tty, quiet)`);
  }
  let ctx: string | Readable = context;
  let dockerfile: string | undefined;
  let dockerfilePath: string | undefined;
  if (context === '-') {
    if (flags.file === '-') throw new HullError('INVALID_ARGUMENT', 'invalid argument: can\'t use stdin for both build context and dockerfile');
    const input = await readStdin();
    if (looksLikeArchive(input)) {
      ctx = Readable.from([input]);
      dockerfilePath = flags.file;
    } else {
      // An empty context: an empty tar is two zero blocks.
      ctx = Readable.from([Buffer.alloc(1024)]);
      dockerfile = input.toString();
    }
  } else if (flags.file === '-') {
    dockerfile = (await readStdin()).toString();
  } else if (flags.file !== undefined) {
    try {
      dockerfile = readFileSync(flags.file, 'utf8');
    } catch {
      // A tar-file context names its Dockerfile inside the archive.
      dockerfilePath = flags.file;
    }
  }
  const quiet = flags.quiet === true || flags.progress === 'quiet';
  const progress = quiet ? (): void => undefined : (line: string): void => void process.stderr.write(`${line}\n`);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    const result = await withEngine((e) =>
      e.build(
        ctx,
        {
          ...(dockerfile !== undefined ? { dockerfile } : {}),
          ...(dockerfilePath !== undefined ? { dockerfilePath } : {}),
          tags: flags.tag ?? [],
          buildArgs: buildArgs(flags.buildArg ?? []),
          ...(flags.target !== undefined ? { target: flags.target } : {}),
          noCache: !flags.cache,
          pull: flags.pull === true,
          labels: labels(flags.label ?? []),
          ...(flags.network !== undefined ? { network: flags.network } : {}),
          signal: controller.signal,
        },
        progress,
      ),
    );
    if (flags.iidfile) writeFileSync(flags.iidfile, result.id);
    if (quiet) out(result.id);
  } catch (e) {
    if (e instanceof RunFailedError) {
      process.stderr.write(`hull: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof HullError) {
      process.stderr.write(`hull: ${e.message}\n`);
      // Interrupted: the shell's convention for SIGINT, as the docker CLI exits on Ctrl-C.
      process.exitCode = controller.signal.aborted ? 130 : 1;
      return;
    }
    throw e;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
  if (controller.signal.aborted) process.exitCode = 130;
}

export function registerBuildCommands(program: Command): void {
  const define = (cmd: Command): Command =>
    cmd
      .argument('<PATH|->', 'Build context: a directory, a tar file, or - for a tar (or a Dockerfile) on stdin')
      .option('-t, --tag <name>', 'Name and optionally a tag in the "name:tag" format', collect)
      .option('-f, --file <path>', "Name of the Dockerfile (default: 'PATH/Dockerfile')")
      .option('--build-arg <arg>', 'Set build-time variables', collect)
      .option('--target <stage>', 'Set the target build stage to build')
      .option('--no-cache', 'Do not use cache when building the image')
      .option('--pull', 'Always attempt to pull a newer version of the image')
      .option('--label <label>', 'Set metadata for an image', collect)
      .option('--network <mode>', 'Set the networking mode for the RUN instructions during build: bridge (default), a network name, none or host')
      .option('--iidfile <file>', 'Write the image ID to the file')
      .option('-q, --quiet', 'Suppress the build output and print image ID on success')
      .option('--progress <type>', 'Set type of progress output (auto, plain, tty, quiet)')
      .action(build);
  define(program.command('build').description('Build an image from a Dockerfile'));
  const builder = program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('Manage images');
  define(builder.command('build').description('Build an image from a Dockerfile'));

  const b = program.command('builder').description('Manage builds');
  define(b.command('build').description('Build an image from a Dockerfile'));
  b.command('prune')
    .description('Remove build cache')
    .option('-a, --all', 'Remove all unused build cache, not just dangling ones (the same for hull)')
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (opts: { force?: boolean }) => {
      if (!opts.force && !(await confirm('WARNING! This will remove all dangling build cache. Are you sure you want to continue?'))) return;
      const freed = await withEngine((e) => e.pruneBuildCache());
      out(`Total reclaimed space: ${humanSize(freed)}`);
    });
}
