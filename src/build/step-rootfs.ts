/**
 * One filesystem step of a build (RUN, COPY, ADD, WORKDIR): an overlay mount of the current
 * layers with a fresh upper directory, the step's work on it, then the upper directory packed
 * into a gzip layer and ingested like a pulled one. Work directories live under
 * `<root>/build/<pid>-…`; a later build sweeps those of dead processes (unmounting first), so a
 * killed build leaves nothing mounted or half-written that anything trusts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { runtimeRoot } from '../container/paths.js';
import { isMounted, mountRootfs, unmountRootfs } from '../container/rootfs.js';
import { chooseRuntime, Runtime } from '../container/runtime.js';
import { Lowers, runcMountArtifacts } from '../engine/container-fs.js';
import { layerMediaType } from '../image/archive/layer-media-type.js';
import { compressGzip } from '../image/compression.js';
import type { Digest } from '../image/digest.js';
import { ingestLayer, type IngestedLayer } from '../image/layer-ingest.js';
import { packLayer } from '../image/layer-pack.js';
import type { ImageStore } from '../image/store.js';
import { isPidAlive, pidTempName } from '../util/fs.js';

export interface StepRootfs {
  dir: string;
  rootfs: string;
  upper: string;
}

/** The runc container id of a step's RUN: derived from its directory, so a sweep can find it. */
export function stepContainerId(stepDir: string): string {
  return `hullbuild-${basename(stepDir)}`;
}

export function buildWorkRoot(root: string): string {
  return join(root, 'build');
}

/** Unmounts and removes the step directories of builds whose process is gone. */
export async function sweepDeadBuilds(root: string): Promise<void> {
  const base = buildWorkRoot(root);
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isPidAlive(pid)) continue;
    // A build killed during RUN leaves runc's container running on the step's root.
    const id = stepContainerId(n);
    if (existsSync(join(runtimeRoot(root), id))) await new Runtime(chooseRuntime(), runtimeRoot(root)).delete(id);
    const rootfs = join(base, n, 'rootfs');
    if (isMounted(rootfs)) unmountRootfs(rootfs);
    await rm(join(base, n), { recursive: true, force: true });
  }
}

/** Mounts the layers `diffIds` (bottom first) with an empty upper directory. */
export async function openStepRootfs(root: string, store: ImageStore, diffIds: readonly string[]): Promise<StepRootfs> {
  const dir = join(buildWorkRoot(root), pidTempName());
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const s = { dir, rootfs: join(dir, 'rootfs'), upper: join(dir, 'upper') };
  const lowers = diffIds.map((d) => store.layers.path(d as Digest));
  if (lowers.length === 0) {
    // overlayfs needs a lower directory: an empty one stands for `scratch`.
    const empty = join(dir, 'empty');
    await mkdir(empty);
    lowers.push(empty);
  }
  await mountRootfs(lowers, s.upper, join(dir, 'work'), s.rootfs);
  return s;
}

/**
 * Unmounts the step, packs its changes (leaving out runc's mount points) and ingests them.
 * Returns undefined when the step changed nothing (Docker records an empty layer then).
 */
export async function closeStepRootfs(
  store: ImageStore,
  s: StepRootfs,
  diffIds: readonly string[],
  keep: boolean,
): Promise<{ layer: IngestedLayer; lease: { release(): void } } | undefined> {
  try {
    unmountRootfs(s.rootfs);
    if (!keep) return undefined;
    const lowers = new Lowers([...diffIds].reverse().map((d) => store.layers.path(d as Digest)));
    const excluded = runcMountArtifacts(s.upper, lowers);
    if (readdirSync(s.upper).every((n) => excluded.has(n))) return undefined;
    const tar = packLayer(s.upper, (rel) => excluded.has(rel));
    const gz = compressGzip();
    const piping = pipeline(tar, gz);
    piping.catch(() => undefined);
    const layer = await ingestLayer(store, gz);
    await piping;
    // Leased before it is recorded: `builder prune` never sees it as a layer nobody holds.
    const lease = store.lease([layer.diffId, layer.blobDigest]);
    store.records.transaction(() => {
      store.records.putLayer(layer.diffId, layer.size);
      store.records.putLayerBlob({ blobDigest: layer.blobDigest, diffId: layer.diffId, mediaType: layerMediaType('gzip'), size: layer.blobSize });
    });
    return { layer, lease };
  } finally {
    if (isMounted(s.rootfs)) unmountRootfs(s.rootfs);
    await rm(s.dir, { recursive: true, force: true });
  }
}
