/**
 * Filesystem verbs: diff, commit, export, cp (and their `hull container …` forms), with
 * Docker's flags, output and copy semantics (docker/cli's cp.go + moby's pkg/archive copy rules).
 */
import { realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { lstat, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { Engine } from '../../engine/engine.js';
import {
  archiveFromContainer,
  commitContainer,
  containerChanges,
  exportContainer,
  extractTar,
  extractToContainer,
  statContainerPath,
  type PathStat,
} from '../../engine/container-fs.js';
import { packPath } from '../../image/layer-pack.js';
import { HullError } from '../../util/errors.js';
import { tempPathFor } from '../../util/fs.js';
import { arityError } from '../arity.js';
import { collect, out, withEngine } from '../context.js';
import { humanSize } from '../../util/units.js';

const KIND_LETTER = ['C', 'A', 'D'] as const;

/** Go's strconv.ParseBool, which Docker's boolean flags use for `--pause=false`. */
const BOOL_WORDS: Record<string, boolean> = { '1': true, t: true, T: true, true: true, TRUE: true, True: true, '0': false, f: false, F: false, false: false, FALSE: false, False: false };

async function diff(name: string): Promise<void> {
  const changes = await withEngine((e) => containerChanges(e, name));
  for (const c of changes) out(`${KIND_LETTER[c.Kind]} ${c.Path}`);
}

interface CommitFlags {
  author?: string;
  message?: string;
  change?: string[];
  pause: string | boolean;
}

async function commit(args: string[], flags: CommitFlags, cmd: Command): Promise<void> {
  // `-p` takes no value in Docker, but commander's optional value swallows the next word:
  // anything that is not a boolean was really the first argument.
  let pause = true;
  if (typeof flags.pause === 'string') {
    const b = BOOL_WORDS[flags.pause];
    if (b === undefined) args = [flags.pause, ...args];
    else pause = b;
  }
  if (args.length < 1 || args.length > 2) {
    arityError(cmd, { min: 1, max: 2 });
  }
  const [container, ref] = args as [string, string | undefined];
  const id = await withEngine((e) =>
    commitContainer(e, container, {
      ...(ref ? { ref } : {}),
      ...(flags.author ? { author: flags.author } : {}),
      ...(flags.message ? { comment: flags.message } : {}),
      changes: flags.change ?? [],
      pause,
    }),
  );
  out(id);
}

async function exportCmd(name: string, flags: { output?: string }): Promise<void> {
  if (!flags.output && process.stdout.isTTY) {
    throw new HullError('INVALID_ARGUMENT', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  await withEngine(async (engine) => {
    const tar = await exportContainer(engine, name);
    if (!flags.output) {
      await pipeline(tar, process.stdout, { end: false });
      return;
    }
    await writeFileFromStream(tar, flags.output);
  });
}

/** Docker's CopyToFile: a temp file next to the target, renamed over it once complete. */
async function writeFileFromStream(stream: Readable, file: string): Promise<void> {
  const target = resolve(file);
  const tmp = tempPathFor(target);
  try {
    await pipeline(stream, createWriteStream(tmp, { mode: 0o600 }));
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// cp

interface CpFlags {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

interface CpArg {
  container?: string;
  path: string;
}

/** docker/cli splitCpArg: absolute and `./`-relative paths are local even with a colon in them. */
function splitCpArg(arg: string): CpArg {
  if (isAbsolute(arg)) return { path: arg };
  const i = arg.indexOf(':');
  if (i === -1 || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** Container paths are relative to its root; a trailing `/` or `/.` is meaningful and kept. */
function containerPath(p: string): string {
  return p.startsWith('/') ? p : `/${p}`;
}

function endsWithDot(p: string): boolean {
  return p === '.' || p.endsWith('/.');
}

/** The path asserts a directory (pkg/archive assertsDirectory). */
function assertsDirectory(p: string): boolean {
  return p.endsWith('/') || endsWithDot(p);
}

/** The name a source goes by in the archive: its basename, or `.` for "the contents of" (`dir/.`). */
function sourceBase(p: string): string {
  if (endsWithDot(p)) return '.';
  const b = posix.basename(p.replace(/\/+$/, ''));
  return b === '' ? '.' : b;
}

interface DestInfo {
  /** Without a trailing `/` or `/.`. */
  path: string;
  exists: boolean;
  isDir: boolean;
  /** The path as given ended with `/` or `/.`. */
  assertsDir: boolean;
}

function stripTrailing(p: string): string {
  return p.replace(/(\/+\.?)+$/, '') || '/';
}

/**
 * pkg/archive PrepareArchiveCopy: where to extract, and under which name the source must sit in
 * the archive for the copy to land where Docker puts it.
 */
function prepareCopy(src: { path: string; isDir: boolean; rebaseName?: string }, dst: DestInfo): { dir: string; name: string } {
  const dstDir = posix.dirname(dst.path);
  const dstBase = posix.basename(dst.path);
  if (dst.exists && dst.isDir) return { dir: dst.path, name: src.rebaseName ?? sourceBase(src.path) };
  if (dst.exists && src.isDir) throw new HullError('INVALID_ARGUMENT', 'cannot copy directory');
  if (dst.exists || src.isDir) return { dir: dstDir, name: dstBase };
  if (dst.assertsDir) throw new HullError('INVALID_ARGUMENT', 'no such directory');
  return { dir: dstDir, name: dstBase };
}

/** Counts the bytes that pass, for "Successfully copied". */
function counter(): { stream: Transform; bytes: () => number } {
  let n = 0;
  // A transform, not a 'data' listener: that would switch the stream to flowing and drop data.
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => n };
}

function report(flags: CpFlags, bytes: number, to: string): void {
  // As docker cp: progress only on a terminal, and never with -q.
  if (!flags.quiet && process.stderr.isTTY) process.stderr.write(`Successfully copied ${humanSize(bytes)} to ${to}\n`);
}

async function hostStat(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function copyFromContainer(engine: Engine, container: string, srcPath: string, dstPath: string, flags: CpFlags): Promise<void> {
  const src = containerPath(srcPath);
  const followLink = flags.followLink ?? false;
  if (dstPath === '-') {
    const { tar } = await archiveFromContainer(engine, container, src, { followLink, name: sourceBase(src) });
    await pipeline(tar, process.stdout, { end: false });
    return;
  }
  // CopyInfoDestinationPath: the destination, its final symlink followed on the host.
  const dstAbs = resolve(dstPath);
  const st = await hostStat(dstAbs);
  if (!st) {
    const parent = dirname(dstAbs);
    if (!(await hostStat(parent))) throw new HullError('INVALID_ARGUMENT', `stat ${parent}: no such file or directory`);
  }
  const dst: DestInfo = { path: st ? realpathSync(dstAbs) : dstAbs, exists: st !== undefined, isDir: st?.isDirectory() ?? false, assertsDir: assertsDirectory(dstPath) };
  let dir = '';
  const c = counter();
  const { tar } = await archiveFromContainer(engine, container, src, {
    followLink,
    name: (s: PathStat) => {
      const plan = prepareCopy({ path: src, isDir: s.isDir }, dst);
      dir = plan.dir;
      return plan.name;
    },
  });
  const copying = pipeline(tar, c.stream);
  await Promise.all([copying, extractTar(c.stream, dir, { chown: false, noOverwriteDirNonDir: true })]);
  report(flags, c.bytes(), dstPath);
}

async function copyToContainer(engine: Engine, srcPath: string, container: string, dstPath: string, flags: CpFlags): Promise<void> {
  let dstInfoPath = containerPath(dstPath);
  let dstStat = await statContainerPath(engine, container, dstInfoPath);
  if (dstStat?.isSymlink) {
    // Copying onto a symlink writes where it points (inside the container).
    dstInfoPath = dstStat.linkTarget;
    dstStat = await statContainerPath(engine, container, dstInfoPath);
  }
  if (dstStat && !dstStat.isDir && !dstStat.isFile) {
    throw new HullError('INVALID_ARGUMENT', `destination "${container}:${dstPath}" must be a directory or a regular file`);
  }
  const dst: DestInfo = { path: stripTrailing(dstInfoPath), exists: dstStat !== undefined, isDir: dstStat?.isDir ?? false, assertsDir: assertsDirectory(dstInfoPath) };
  const opts = { copyUIDGID: flags.archive ?? false, noOverwriteDirNonDir: true };
  if (srcPath === '-') {
    if (!dst.isDir) throw new HullError('INVALID_ARGUMENT', `destination "${container}:${dstPath}" must be a directory`);
    await extractToContainer(engine, container, dst.path, process.stdin, opts);
    return;
  }
  // CopyInfoSourcePath / ResolveHostSourcePath: host symlinks are the user's, resolved as usual.
  const abs = resolve(srcPath) + (srcPath.endsWith('/.') ? '/.' : srcPath.endsWith('/') ? '/' : '');
  let resolved: string;
  let rebaseName: string | undefined;
  try {
    if (flags.followLink) {
      resolved = realpathSync(abs);
      if (basename(resolved) !== sourceBase(abs) && sourceBase(abs) !== '.') rebaseName = sourceBase(abs);
    } else {
      const trimmed = abs.replace(/\/+\.?$/, '') || '/';
      resolved = join(realpathSync(dirname(trimmed)), basename(trimmed));
      if (endsWithDot(abs)) resolved = realpathSync(trimmed);
    }
  } catch {
    throw new HullError('INVALID_ARGUMENT', `lstat ${abs.replace(/\/+\.?$/, '') || '/'}: no such file or directory`);
  }
  let st: Stats;
  try {
    st = await lstat(resolved);
  } catch {
    throw new HullError('INVALID_ARGUMENT', `lstat ${resolved}: no such file or directory`);
  }
  if (assertsDirectory(srcPath) && !st.isDirectory()) throw new HullError('INVALID_ARGUMENT', 'not a directory');
  const plan = prepareCopy({ path: abs, isDir: st.isDirectory(), ...(rebaseName ? { rebaseName } : {}) }, dst);
  const c = counter();
  const tar = packPath(resolved, { name: plan.name });
  const copying = pipeline(tar, c.stream);
  await Promise.all([copying, extractToContainer(engine, container, plan.dir, c.stream, opts)]);
  report(flags, c.bytes(), `${container}:${dstPath}`);
}

async function cp(source: string, dest: string, flags: CpFlags): Promise<void> {
  const src = splitCpArg(source);
  const dst = splitCpArg(dest);
  if (src.container === undefined && dst.container === undefined) {
    throw new HullError('INVALID_ARGUMENT', 'must specify at least one container source');
  }
  if (src.container !== undefined && dst.container !== undefined) {
    throw new HullError('INVALID_ARGUMENT', 'copying between containers is not supported');
  }
  if (src.path === '' || dst.path === '') throw new HullError('INVALID_ARGUMENT', 'filepath can not be empty');
  await withEngine(async (engine) => {
    if (src.container !== undefined) await copyFromContainer(engine, src.container, src.path, dst.path, flags);
    else await copyToContainer(engine, src.path, dst.container!, dst.path, flags);
  });
}

// ---------------------------------------------------------------------------------------------

export function registerContainerFsCommands(program: Command): void {
  const diffCmd = (cmd: Command): void => {
    cmd
      .description('Inspect changes to files or directories on a container\'s filesystem')
      .argument('<container>')
      .action((name: string) => diff(name));
  };
  const commitCmd = (cmd: Command): void => {
    cmd
      .description("Create a new image from a container's changes")
      .argument('<args...>', 'CONTAINER [REPOSITORY[:TAG]]')
      .option('-a, --author <string>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-c, --change <string>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-m, --message <string>', 'Commit message')
      .option('-p, --pause [bool]', 'Pause container during commit (default true)')
      .action((args: string[], flags: CommitFlags, cmd: Command) => commit(args, flags, cmd));
  };
  const exportC = (cmd: Command): void => {
    cmd
      .description("Export a container's filesystem as a tar archive")
      .argument('<container>')
      .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
      .action((name: string, flags: { output?: string }) => exportCmd(name, flags));
  };
  const cpCmd = (cmd: Command): void => {
    cmd
      .description('Copy files/folders between a container and the local filesystem')
      .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       hull cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
      .argument('<src>')
      .argument('<dest>')
      .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
      .option('-q, --quiet', 'Suppress progress output during copy')
      .action((source: string, dest: string, flags: CpFlags) => cp(source, dest, flags));
  };
  diffCmd(program.command('diff'));
  commitCmd(program.command('commit'));
  exportC(program.command('export'));
  cpCmd(program.command('cp'));

  // `hull container <verb>`: the management command may already exist (containers.ts).
  const container = program.commands.find((c) => c.name() === 'container') ?? program.command('container').description('Manage containers');
  diffCmd(container.command('diff'));
  commitCmd(container.command('commit'));
  exportC(container.command('export'));
  cpCmd(container.command('cp'));
}
