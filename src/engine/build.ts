/**
 * `hull build` / `POST /build`: a context (directory, tar file, or tar stream) and a
 * Dockerfile into an image. The engine side of it: the context is opened (unpacked when it is
 * a tar), leftovers of killed builds are swept, then build/builder.ts runs the stages.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { runBuild, type BuildDeps, type BuildOptions, type BuildProgress, type BuildResult } from '../build/builder.js';
import { openContext } from '../build/context.js';
import { sweepDeadSteps } from '../build/run-network.js';
import { Spans } from '../build/spans.js';
import { buildWorkRoot, sweepDeadBuilds } from '../build/step-rootfs.js';
import { HullError } from '../util/errors.js';
import { readFileSync } from 'node:fs';

export type { BuildOptions, BuildProgress, BuildResult };

export interface EngineBuildOptions extends Omit<BuildOptions, 'dockerfile'> {
  /** The Dockerfile's text; when absent it is read from `dockerfilePath` inside the context. */
  dockerfile?: string;
  /** Relative to the context root (Docker's `-f` for a remote context), default `Dockerfile`. */
  dockerfilePath?: string;
}

export async function build(deps: BuildDeps, context: string | Readable, opts: EngineBuildOptions, progress: BuildProgress): Promise<BuildResult> {
  const spans = deps.spans ?? new Spans();
  const work = buildWorkRoot(deps.root);
  await mkdir(work, { recursive: true, mode: 0o700 });
  await spans.time('sweep', async () => {
    await sweepDeadBuilds(deps.root);
    if (deps.networks) sweepDeadSteps(deps.db, deps.networks);
  });
  const ctx = await spans.time('context', () => openContext(context, work));
  try {
    let dockerfile = opts.dockerfile;
    if (dockerfile === undefined) {
      const name = opts.dockerfilePath ?? 'Dockerfile';
      try {
        dockerfile = readFileSync(join(ctx.dir, name), 'utf8');
      } catch {
        throw new HullError('INVALID_ARGUMENT', `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${resolve(ctx.dir, name)}: no such file or directory`);
      }
    }
    return await runBuild({ ...deps, spans }, ctx, { ...opts, dockerfile }, progress);
  } finally {
    await ctx.close();
    spans.flush();
  }
}
