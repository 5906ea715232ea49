/**
 * The build context: a directory (used in place), or a tar (`-` on stdin, or a tar file,
 * compressed or not) unpacked into the build's work directory. `.dockerignore` decides what
 * COPY and ADD can see. Sources are resolved with the context as `/`: neither `..` nor a
 * symlink leads out of it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { FileDigests } from './file-digests.js';
import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extractTar, resolveInScope } from '../engine/container-fs.js';
import { sniffingDecompressor } from '../image/compression.js';
import { HullError } from '../util/errors.js';
import { pidTempName } from '../util/fs.js';
import { compile, IgnoreMatcher } from './dockerignore.js';

export interface BuildContext {
  dir: string;
  /** The user's directory, used in place (not a tar unpacked for this build). */
  inPlace: boolean;
  ignore: IgnoreMatcher;
  close(): Promise<void>;
}

export interface ContextSource {
  /** Context-relative, cleaned, no leading slash ('' is the context root). */
  rel: string;
  abs: string;
  isDir: boolean;
}

/**
 * Completes a tar that ends early: the docker CLI's context with `-f` outside the context dir
 * (its Dockerfile appended as `.dockerfile.<random>`) stops right after the last file's bytes,
 * with neither block padding nor the end-of-archive blocks; Go's tar reader (dockerd) accepts
 * that. Zero padding to the block size plus two zero blocks make it a whole archive; on a
 * complete one they are ignored trailing zeros.
 */
function completeTar(): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      cb(null, Buffer.alloc((512 - (total % 512)) % 512 + 1024));
    },
  });
}

export async function openContext(source: string | Readable, workRoot: string): Promise<BuildContext> {
  let dir: string;
  let owned = false;
  if (typeof source === 'string' && statSync(source, { throwIfNoEntry: false })?.isDirectory()) {
    dir = source;
  } else {
    if (typeof source === 'string' && !statSync(source, { throwIfNoEntry: false })) {
      throw new HullError('INVALID_ARGUMENT', `unable to prepare context: path "${source}" not found`);
    }
    dir = join(workRoot, `${pidTempName()}-context`);
    owned = true;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const input = typeof source === 'string' ? createReadStream(source) : source;
    const plain = completeTar();
    const piping = pipeline(input, sniffingDecompressor(), plain);
    piping.catch(() => undefined);
    try {
      await extractTar(plain, dir, { chown: false, noOverwriteDirNonDir: false, displayRoot: '/' });
      await piping;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw new HullError('INVALID_ARGUMENT', `unable to read the build context archive: ${(e as Error).message}`, { cause: e });
    }
  }
  let ignoreText = '';
  try {
    ignoreText = readFileSync(join(dir, '.dockerignore'), 'utf8');
  } catch {
    // no .dockerignore
  }
  return {
    dir,
    inPlace: !owned,
    ignore: IgnoreMatcher.parse(ignoreText),
    close: async () => {
      if (owned) await rm(dir, { recursive: true, force: true });
    },
  };
}

const GLOB = /[*?[]/;

/** Every context path (files and directories, depth first) that is not ignored. */
function walk(ctx: BuildContext, rel: string, out: string[]): void {
  for (const n of readdirSync(rel === '' ? ctx.dir : join(ctx.dir, rel)).sort()) {
    const r = rel === '' ? n : `${rel}/${n}`;
    const st = lstatSync(join(ctx.dir, r));
    if (!ctx.ignore.ignores(r)) out.push(r);
    if (st.isDirectory() && (!ctx.ignore.ignores(r) || ctx.ignore.mayReinclude(r))) walk(ctx, r, out);
  }
}

/**
 * The sources of a COPY/ADD (already variable-expanded): globs matched against the context
 * (Go's filepath.Match per component), other paths resolved in scope. A missing or ignored
 * source is Docker's "file not found in build context" error naming it.
 */
export function resolveSources(ctx: BuildContext, srcs: string[], cmd: string): ContextSource[] {
  const out: ContextSource[] = [];
  for (const src of srcs) {
    const clean = posix.normalize(`/${src}`).slice(1).replace(/\/+$/, '');
    const notFound = (): HullError =>
      new HullError('NOT_FOUND', `${cmd} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
    if (GLOB.test(clean)) {
      const re = compile(clean);
      const all: string[] = [];
      walk(ctx, '', all);
      const hits = all.filter((r) => re.test(r));
      if (hits.length === 0) throw new HullError('NOT_FOUND', `${cmd} failed: no source files were specified`);
      for (const r of hits) out.push({ rel: r, abs: join(ctx.dir, r), isDir: lstatSync(join(ctx.dir, r)).isDirectory() });
      continue;
    }
    const resolved = resolveInScope(ctx.dir, clean).slice(1);
    if (resolved !== '' && ctx.ignore.ignores(resolved)) throw notFound();
    const abs = resolved === '' ? ctx.dir : join(ctx.dir, resolved);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) throw notFound();
    out.push({ rel: resolved, abs, isDir: st.isDirectory() });
  }
  return out;
}

/** Excludes ignored paths below a source directory (for packing it). */
export function excludeBelow(ctx: BuildContext, source: ContextSource): ((rel: string) => boolean) | undefined {
  if (ctx.ignore.empty) return undefined;
  return (rel) => {
    const full = source.rel === '' ? rel : `${source.rel}/${rel}`;
    if (!ctx.ignore.ignores(full)) return false;
    // An ignored directory holding a re-included path is kept (with only what is re-included).
    return !(ctx.ignore.mayReinclude(full) && lstatSync(join(source.abs, rel)).isDirectory());
  };
}

/**
 * The cache input of COPY/ADD sources: names, types, modes, link targets and contents of every
 * file that would be copied; times are left out (Docker's tarsum v1 ignores mtime too).
 * File contents come from `digests`, which remembers them by stat across builds.
 */
export async function sourcesDigest(ctx: BuildContext, sources: ContextSource[], digests: FileDigests): Promise<string> {
  const h = createHash('sha256');
  const file = async (abs: string, rel: string): Promise<void> => {
    const st = lstatSync(abs, { bigint: true });
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(readlinkSync(abs));
    else if (st.isFile()) h.update(await digests.digest(abs, st));
    h.update('\n');
  };
  for (const s of sources) {
    h.update(`source ${s.rel}\n`);
    if (!s.isDir) {
      await file(s.abs, '');
      continue;
    }
    const below: string[] = [];
    const exclude = excludeBelow(ctx, s);
    const visit = (rel: string): void => {
      for (const d of readdirSync(rel === '' ? s.abs : join(s.abs, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const r = rel === '' ? d.name : `${rel}/${d.name}`;
        if (exclude?.(r)) continue;
        below.push(r);
        if (d.isDirectory()) visit(r);
      }
    };
    visit('');
    for (const r of below) await file(join(s.abs, r), r);
  }
  digests.save();
  return h.digest('hex');
}
