/**
 * The build itself: stages in order, each instruction a cached step. A step's cache key is its
 * parent's key, the instruction after substitution, the build args in scope (RUN) and the
 * content digest of its inputs (COPY/ADD); a hit restores the image config recorded after the
 * step (its layers included) and runs nothing. Nothing becomes an image until the last step
 * succeeded: an interrupted or failed build leaves only complete, cached layers behind.
 */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, rmSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import type { ImageConfig } from '../image/config.js';
import type { Digest, ImageId } from '../image/digest.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { formatReference, parseNormalizedTagged } from '../image/reference.js';
import type { ImageStore, StoredImage } from '../image/store.js';
import { resolveUser } from '../container/spec/user.js';
import { Lowers, resolveInScope } from '../engine/container-fs.js';
import type { Db } from '../state/db.js';
import { HullError } from '../util/errors.js';
import { pidTempName } from '../util/fs.js';
import { BuildCache, cacheKey } from './cache.js';
import { applyConfigStep, commandOf, DEFAULT_SHELL, envMap } from './config-steps.js';
import { excludeBelow, resolveSources, sourcesDigest, type BuildContext } from './context.js';
import { copyInto, ensureDir, type CopySource } from './copy.js';
import { parseDockerfile, type Instruction } from './dockerfile.js';
import { runStep } from './run-step.js';
import { processWord } from './shell-lex.js';
import { FileDigests } from './file-digests.js';
import { Spans } from './spans.js';
import { argDecl, baseStage, findStage, planStages, type Stage } from './stages.js';
import type { BundleNetwork } from '../engine/networks.js';
import { attachStep, resolveRunNetwork, type RunNetwork, type StepNetwork } from './run-network.js';
import { buildWorkRoot, closeStepRootfs, openStepRootfs, type StepRootfs } from './step-rootfs.js';
import type { NetworkService } from '../engine/networks.js';

export interface BuildOptions {
  /** The Dockerfile's text (the CLI reads `-f`, or stdin for `-f -`). */
  dockerfile: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  labels?: Record<string, string>;
  /** RUN's network: `default` (the default bridge, as Docker), `bridge`, a network name, `none` or `host`. */
  network?: string;
  signal?: AbortSignal;
}

export interface BuildResult {
  id: ImageId;
  tags: string[];
}

/** One line of build output (BuildKit's plain progress format, without the timestamps). */
export type BuildProgress = (line: string) => void;

export interface BuildDeps {
  root: string;
  db: Db;
  images: ImageStore;
  pull(ref: string, signal?: AbortSignal): Promise<void>;
  /** The engine's networks, for RUN on a bridge network. */
  networks?: NetworkService;
  /** Timing of the build's phases (HULL_BUILD_TRACE). */
  spans?: Spans;
}

/** A failing RUN: Docker's message, and the command's status (docker build exits with it). */
export class RunFailedError extends HullError {
  constructor(
    readonly command: string[],
    readonly exitCode: number,
  ) {
    super('INVALID_ARGUMENT', `The command '${command.join(' ')}' returned a non-zero code: ${exitCode}`);
  }
}

const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's predefined args: usable in RUN without an ARG, and kept out of cache keys and history. */
const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((a) => [a, a.toLowerCase()]);

interface StageResult {
  config: ImageConfig;
  key: string;
}

export async function runBuild(deps: BuildDeps, ctx: BuildContext, opts: BuildOptions, progress: BuildProgress): Promise<BuildResult> {
  return new Builder(deps, ctx, opts, progress).build();
}

class Builder {
  private readonly cache: BuildCache;
  private readonly buildArgs: Map<string, string>;
  private readonly usedArgs = new Set<string>();
  private readonly results = new Map<number, StageResult>();
  private readonly leases: { release(): void }[] = [];
  private readonly leased = new Set<string>();
  private readonly attachments = new Map<string, StepNetwork>();
  private readonly network: RunNetwork;
  /** Files outside any step (downloads), removed when the build ends. */
  private readonly temps: string[] = [];
  private stepNo = 0;
  private escape = '\\';
  private stages: Stage[] = [];
  private readonly spans: Spans;
  private readonly fileDigests: FileDigests;

  constructor(
    private readonly deps: BuildDeps,
    private readonly ctx: BuildContext,
    private readonly opts: BuildOptions,
    private readonly out: BuildProgress,
  ) {
    this.cache = new BuildCache(deps.db, deps.images);
    this.spans = deps.spans ?? new Spans();
    // A tar context is unpacked anew every build: nothing there is worth remembering.
    this.fileDigests = new FileDigests(ctx.inPlace ? deps.db : undefined);
    this.buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
    this.network = resolveRunNetwork(opts.network, deps.networks);
    for (const t of opts.tags ?? []) {
      const ref = parseNormalizedTagged(t);
      if (ref.digest !== undefined) throw new HullError('INVALID_ARGUMENT', `invalid reference format: ${t}`);
    }
  }

  async build(): Promise<BuildResult> {
    try {
      const df = this.spans.sync('parse', () => parseDockerfile(this.opts.dockerfile));
      this.escape = df.escape;
      // Meta args: the defaults in the file, overridden by --build-arg.
      const meta = new Map<string, string>();
      const metaDecl = new Map<string, string | undefined>();
      for (const ins of df.instructions) {
        if (ins.cmd === 'from') break;
        for (const raw of ins.args) {
          const [name, def] = argDecl(raw);
          const value = this.buildArgs.get(name) ?? (def !== undefined ? processWord(def, meta, this.escape) : undefined);
          metaDecl.set(name, value);
          if (value !== undefined) meta.set(name, value);
          if (this.buildArgs.has(name)) this.usedArgs.add(name);
        }
      }
      const plan = planStages(df, meta, this.opts.target);
      this.stages = plan.stages;
      for (const stage of plan.needed) {
        this.results.set(stage.index, await this.buildStage(stage, meta, metaDecl));
      }
      const final = this.results.get(plan.target.index)!;
      let config = final.config;
      if (this.opts.labels && Object.keys(this.opts.labels).length > 0) {
        config = structuredClone(config);
        config.config = { ...config.config, Labels: { ...(config.config?.Labels ?? {}), ...this.opts.labels } };
      }
      const unused = [...this.buildArgs.keys()].filter((a) => !this.usedArgs.has(a) && !PROXY_ARGS.includes(a));
      if (unused.length) this.out(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);
      return await this.spans.time('record', () => this.record(config));
    } finally {
      for (const a of this.attachments.values()) {
        try {
          a.release();
        } catch (e) {
          // The build's own outcome matters more; the next build sweeps what is left.
          this.out(`[Warning] releasing the build's network: ${(e as Error).message}`);
        }
      }
      // One write transaction for all of them, not one each.
      this.deps.images.records.transaction(() => {
        for (const l of this.leases) l.release();
      });
      for (const t of this.temps) rmSync(t, { force: true });
    }
  }

  /** Writes the image: config blob, row and tags in one transaction. */
  private async record(config: ImageConfig): Promise<BuildResult> {
    const store = this.deps.images;
    const n = ++this.stepNo;
    this.out(`#${n} exporting to image`);
    const body = Buffer.from(JSON.stringify(config));
    const tags = (this.opts.tags ?? []).map((t) => formatReference(parseNormalizedTagged(t)));
    const id = `sha256:${createHash('sha256').update(body).digest('hex')}` as ImageId;
    // An unchanged rebuild yields the image it yielded before: nothing to write (no fsync, no
    // write transaction) unless a tag moved.
    const known = store.records.getImage(id) !== undefined && (await store.blobs.has(id));
    const moved = tags.filter((t) => store.records.getTag(t) !== id);
    if (!known) await store.blobs.put(body, id);
    if (!known || moved.length > 0) {
      const size = config.rootfs.diff_ids.reduce((s, d) => s + (store.records.getLayer(d)?.size ?? 0), 0);
      store.records.transaction(() => {
        if (!known) store.records.putImage({ id, config: body.toString(), manifestDigest: null, manifestMediaType: null, size, parent: null });
        for (const t of moved) store.records.setTag(t, id);
      });
    }
    this.out(`#${n} writing image ${id} done`);
    for (const t of tags) this.out(`#${n} naming to ${t} done`);
    return { id, tags };
  }

  private checkAborted(): void {
    if (this.opts.signal?.aborted) throw new HullError('INTERNAL', 'build interrupted');
  }

  /** Keeps `digests` from garbage collection until the build ends; each digest is leased once. */
  private lease(digests: string[]): void {
    const fresh = digests.filter((d) => !this.leased.has(d));
    if (fresh.length === 0) return;
    this.leases.push(this.deps.images.lease(fresh));
    for (const d of fresh) this.leased.add(d);
  }

  private async buildStage(stage: Stage, meta: Map<string, string>, metaDecl: Map<string, string | undefined>): Promise<StageResult> {
    const total = stage.body.length + 1;
    const label = (i: number): string => {
      const who = this.stages.length > 1 ? `${stage.name ?? `stage-${stage.index}`} ` : '';
      return `[${who}${i}/${total}]`;
    };
    this.checkAborted();
    const n = ++this.stepNo;
    this.out(`#${n} ${label(1)} FROM ${stage.base}${stage.name ? ` AS ${stage.name}` : ''}`);
    const base = await this.base(stage);
    let config = base.config;
    const key = base.key;
    this.out(`#${n} DONE`);
    const args = new Map<string, string>();
    const state = { config, key, args };

    // ONBUILD triggers of the base run first, then are cleared (Docker's order).
    const triggers = config.config?.OnBuild ?? [];
    if (triggers.length > 0) {
      config = structuredClone(config);
      config.config!.OnBuild = null;
      state.config = config;
      state.key = cacheKey(key, 'onbuild-clear');
      for (const t of triggers) {
        const ins = parseDockerfile(t).instructions[0];
        if (!ins) continue;
        const m = ++this.stepNo;
        this.out(`#${m} [onbuild] ${ins.original}`);
        await this.step(state, ins, m, meta, metaDecl);
      }
    }

    for (let i = 0; i < stage.body.length; i++) {
      this.checkAborted();
      const ins = stage.body[i]!;
      const m = ++this.stepNo;
      this.out(`#${m} ${label(i + 2)} ${ins.original}`);
      await this.step(state, ins, m, meta, metaDecl);
    }
    return { config: state.config, key: state.key };
  }

  /** The stage's starting config and cache key: scratch, an earlier stage, or an image. */
  private async base(stage: Stage): Promise<StageResult> {
    const platformFlag = stage.from.flags.platform?.at(-1);
    if (platformFlag !== undefined) {
      const want = parsePlatform(platformFlag);
      const host = hostPlatform();
      if (want.os !== host.os || want.architecture !== host.architecture) {
        throw new HullError('INVALID_ARGUMENT', `FROM --platform=${platformFlag}: hull builds for this host only (${host.os}/${host.architecture})`);
      }
    }
    const from = baseStage(this.stages, stage);
    if (from) {
      const r = this.results.get(from.index)!;
      return { config: structuredClone(r.config), key: r.key };
    }
    if (stage.base.toLowerCase() === 'scratch') {
      const p = hostPlatform();
      return {
        config: { architecture: p.architecture, os: p.os, config: { Env: [DEFAULT_PATH_ENV] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
        key: cacheKey('scratch', p.architecture),
      };
    }
    const img = await this.spans.time('base image', () => this.image(stage.base));
    const config = structuredClone(img.config);
    config.config ??= {};
    if (!config.config.Env || config.config.Env.length === 0) config.config.Env = [DEFAULT_PATH_ENV];
    delete config.container_config;
    delete config.docker_version;
    return { config, key: cacheKey('image', img.id) };
  }

  private async image(name: string): Promise<StoredImage> {
    const store = this.deps.images;
    let img = this.opts.pull ? undefined : store.find(name);
    if (!img) {
      await this.deps.pull(name, this.opts.signal);
      img = store.get(name);
    }
    this.lease([...img.config.rootfs.diff_ids, img.id]);
    return img;
  }

  /** Runs one instruction against `state` (mutated), through the cache. */
  private async step(state: { config: ImageConfig; key: string; args: Map<string, string> }, ins: Instruction, n: number, meta: Map<string, string>, metaDecl: Map<string, string | undefined>): Promise<void> {
    const env = envMap(state.config.config?.Env, state.args);
    const word = (s: string): string => processWord(s, env, this.escape);

    if (ins.cmd === 'arg') {
      for (const raw of ins.args) {
        const [nameRaw, def] = argDecl(raw);
        const name = nameRaw;
        if (this.buildArgs.has(name)) this.usedArgs.add(name);
        const value = this.buildArgs.get(name) ?? (def !== undefined ? word(def) : metaDecl.has(name) ? meta.get(name) : undefined);
        if (value !== undefined) state.args.set(name, value);
        else state.args.delete(name);
        // A declared arg without value is still "in scope" (empty in RUN's env only if given).
      }
      state.key = cacheKey(state.key, 'arg', JSON.stringify([...state.args].sort()));
      this.out(`#${n} DONE`);
      return;
    }

    let describe: string;
    let inputs: string[] = [];
    let exec: () => Promise<string>;
    switch (ins.cmd) {
      case 'run': {
        const { args, description } = this.runCommand(ins, state.config);
        const inScope = [...state.args].filter(([k]) => !PROXY_ARGS.includes(k)).sort();
        // BuildKit's `RUN --network=none|host|default`; default is the build's network.
        const flag = ins.flags.network?.at(-1);
        if (flag !== undefined && flag !== 'none' && flag !== 'host' && flag !== 'default') throw new HullError('INVALID_ARGUMENT', `dockerfile line ${ins.line}: RUN --network=${flag} is not supported (none, host, default)`);
        const network: RunNetwork = flag === 'none' || flag === 'host' ? flag : this.network;
        if (ins.flags.mount) throw new HullError('INVALID_ARGUMENT', `dockerfile line ${ins.line}: RUN --mount is not supported by hull build`);
        const argPrefix = inScope.length ? `|${inScope.length} ${inScope.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
        describe = `RUN ${argPrefix}${description}`;
        inputs = [JSON.stringify(args), JSON.stringify(inScope), typeof network === 'string' ? network : `network:${network.name}`];
        exec = async () => {
          await this.runInstruction(state.config, args, state.args, network, n);
          return `${describe} # buildkit`;
        };
        break;
      }
      case 'copy':
      case 'add': {
        const plan = await this.spans.time('copy inputs', () => this.copyPlan(ins, state.config, word));
        describe = `${ins.cmd.toUpperCase()} ${plan.describe}`;
        inputs = [plan.digest];
        exec = async () => {
          await this.copyInstruction(state.config, ins, plan);
          return `${describe} # buildkit`;
        };
        break;
      }
      case 'workdir': {
        const dir = word(ins.args[0]!);
        const wd = posix.resolve(state.config.config?.WorkingDir || '/', dir);
        describe = `WORKDIR ${wd}`;
        exec = async () => {
          await this.workdir(state.config, wd);
          return describe;
        };
        break;
      }
      default: {
        const probe = structuredClone(state.config);
        describe = applyConfigStep(ins, probe, env, this.escape);
        exec = () => {
          const created = probe;
          state.config = created;
          return Promise.resolve(describe);
        };
      }
    }

    const key = cacheKey(state.key, describe, ...inputs);
    if (!this.opts.noCache) {
      const hit = await this.spans.time('cache lookup', () => this.cache.get(key));
      if (hit) {
        state.config = hit;
        state.key = key;
        this.lease(hit.rootfs.diff_ids);
        this.out(`#${n} CACHED`);
        return;
      }
    }
    const started = Date.now();
    const layersBefore = state.config.rootfs.diff_ids.length;
    const createdBy = await exec();
    const emptyLayer = state.config.rootfs.diff_ids.length === layersBefore;
    const created = new Date().toISOString();
    state.config.created = created;
    state.config.history = [...(state.config.history ?? []), { created, created_by: createdBy, comment: 'buildkit.dockerfile.v0', ...(emptyLayer ? { empty_layer: true } : {}) }];
    this.cache.put(key, state.config);
    state.key = key;
    this.out(`#${n} DONE ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  private runCommand(ins: Instruction, config: ImageConfig): { args: string[]; description: string } {
    const shell = config.config?.Shell ?? DEFAULT_SHELL;
    if (ins.heredocs.length > 0 && !ins.json) {
      const line = ins.args[0] ?? '';
      const only = /^<<-?\s*["']?[A-Za-z0-9_./-]+["']?\s*$/.test(line.trim()) && ins.heredocs.length === 1;
      // `RUN <<EOF` alone: the body is the script. Otherwise the heredocs feed the command, and
      // the shell gets the whole text back (BuildKit's behaviour).
      const script = only ? ins.heredocs[0]!.content : `${line}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`;
      return { args: [...shell, script], description: `${shell.join(' ')} ${script}` };
    }
    const args = commandOf(ins, shell);
    return { args, description: ins.json ? JSON.stringify(args) : args.join(' ') };
  }

  /**
   * The build's attachment to a bridge network, made by the first RUN that runs on it and kept
   * for the later ones (steps run one after another, and runc leaves no process behind in the
   * namespace), so a build pays for one netns and one `netavark setup` per network, not per RUN.
   */
  private attach(name: string): StepNetwork {
    let a = this.attachments.get(name);
    if (!a) {
      a = attachStep(this.deps.db, this.deps.networks!, `hullbuild-${pidTempName()}`, name);
      this.attachments.set(name, a);
    }
    return a;
  }

  private async runInstruction(config: ImageConfig, args: string[], buildArgs: Map<string, string>, network: RunNetwork, n: number): Promise<void> {
    const c = config.config ?? {};
    // Build args are environment for RUN, below the image's ENV.
    const env = [...buildArgs].filter(([k]) => !(c.Env ?? []).some((e) => e.split('=')[0] === k)).map(([k, v]) => `${k}=${v}`);
    for (const p of PROXY_ARGS) if (this.buildArgs.has(p) && !buildArgs.has(p)) env.push(`${p}=${this.buildArgs.get(p)!}`);
    let pending = '';
    const output = (b: Buffer): void => {
      const lines = (pending + b.toString()).split('\n');
      pending = lines.pop()!;
      for (const l of lines) this.out(`#${n} ${l}`);
    };
    await this.fsStep(config, async (step) => {
      // Set up only here, for a step that runs: a cached RUN pays nothing for its network.
      const bundle: BundleNetwork = typeof network === 'string' ? { namespace: network, addresses: [], dns: [] } : this.attach(network.name).bundle;
      // The default bridge's fast path may still be making the namespace and its plumbing.
      await bundle.ready;
      const status = await runStep(this.deps.root, step, {
        args,
        env: [...(c.Env ?? []), ...env],
        user: c.User ?? '',
        cwd: c.WorkingDir || '/',
        network: bundle,
        output,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      });
      if (pending) this.out(`#${n} ${pending}`);
      if (status !== 0) throw new RunFailedError(args, status);
    });
  }

  /** Mounts the current layers, runs `fn`, and appends the changes as a layer. */
  private async fsStep(config: ImageConfig, fn: (step: StepRootfs) => Promise<void>): Promise<void> {
    const diffIds = config.rootfs.diff_ids;
    const step = await openStepRootfs(this.deps.root, this.deps.images, diffIds);
    let ok = false;
    let result;
    try {
      await fn(step);
      ok = true;
    } finally {
      result = await closeStepRootfs(this.deps.images, step, diffIds, ok && !this.opts.signal?.aborted);
    }
    if (result) {
      this.leases.push(result.lease);
      this.leased.add(result.layer.diffId);
    }
    this.checkAborted();
    if (result) config.rootfs.diff_ids = [...diffIds, result.layer.diffId];
  }

  private async workdir(config: ImageConfig, wd: string): Promise<void> {
    config.config = { ...config.config, WorkingDir: wd };
    const lowers = new Lowers([...config.rootfs.diff_ids].reverse().map((d) => this.deps.images.layers.path(d as Digest)));
    if (lowers.lookup(wd.replace(/^\/+/, ''))?.isDirectory()) return;
    await this.fsStep(config, (step) => {
      ensureDir(step.rootfs, wd, { uid: 0, gid: 0 });
      return Promise.resolve();
    });
  }

  private async copyPlan(ins: Instruction, config: ImageConfig, word: (s: string) => string): Promise<CopyPlan> {
    const cmd = ins.cmd.toUpperCase();
    const known = ins.cmd === 'copy' ? ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'] : ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'];
    for (const f of Object.keys(ins.flags)) if (!known.includes(f)) throw new HullError('INVALID_ARGUMENT', `dockerfile line ${ins.line}: unknown flag: --${f}`);
    const raw = ins.json ? ins.args.map(word) : ins.args.map(word);
    const destRaw = raw.at(-1)!;
    const srcs = raw.slice(0, -1);
    const heredocNames = new Set(ins.heredocs.map((h) => h.name));
    const wd = config.config?.WorkingDir || '/';
    const dest = destRaw.startsWith('/') ? destRaw : `${posix.join(wd, destRaw)}${destRaw.endsWith('/') || destRaw === '.' ? '/' : ''}`;
    const chown = ins.flags.chown?.at(-1);
    const chmodRaw = ins.flags.chmod?.at(-1);
    let chmod: number | undefined;
    if (chmodRaw !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodRaw)) throw new HullError('INVALID_ARGUMENT', `invalid chmod parameter: ${chmodRaw}`);
      chmod = parseInt(chmodRaw, 8);
    }
    const from = ins.flags.from?.at(-1);
    const inline = ins.heredocs.filter((h) => srcs.some((s) => s.replace(/^<<-?["']?|["']?$/g, '') === h.name));
    const fileSrcs = srcs.filter((s) => !heredocNames.has(s.replace(/^<<-?["']?|["']?$/g, '')));
    const urlSrcs = ins.cmd === 'add' ? fileSrcs.filter((s) => /^https?:\/\//.test(s)) : [];
    const local = fileSrcs.filter((s) => !urlSrcs.includes(s));
    // URLs are fetched before the cache lookup: their content, not their address, is the key.
    const urls: Download[] = [];
    for (const url of urlSrcs) {
      const file = join(buildWorkRoot(this.deps.root), `${pidTempName()}-download`);
      this.temps.push(file);
      urls.push({ url, file, name: posix.basename(new URL(url).pathname) || 'index.html', digest: await download(url, file, this.opts.signal) });
    }
    const h = { chown: chown ?? '', chmod: chmodRaw ?? '' };
    let digest: string;
    let describe = `${from ? `--from=${from} ` : ''}${srcs.join(' ')} ${destRaw}`;
    let fromStage: StageResult | undefined;
    let fromImage: StoredImage | undefined;
    if (from !== undefined) {
      const fromName = word(from);
      const stage = findStage(this.stages, fromName, Number.MAX_SAFE_INTEGER);
      if (stage) {
        fromStage = this.results.get(stage.index);
        if (!fromStage) throw new HullError('INVALID_ARGUMENT', `invalid from flag value ${fromName}: stage is not built before this one`);
      } else {
        fromImage = await this.image(fromName);
      }
      digest = JSON.stringify([fromStage?.key ?? fromImage!.id, local, dest, h]);
      describe = `--from=${fromName} ${srcs.join(' ')} ${destRaw}`;
    } else {
      const resolved = resolveSources(this.ctx, local, cmd);
      const contentDigest = await sourcesDigest(this.ctx, resolved, this.fileDigests);
      digest = JSON.stringify([contentDigest, resolved.map((r) => r.rel), inline.map((x) => [x.name, x.expand ? word(x.content) : x.content]), urls.map((u) => [u.url, u.digest]), dest, h]);
    }
    return { ins, cmd, srcs: local, urls, inline, dest, multi: srcs.length > 1 || local.some((s) => /[*?[]/.test(s)), chown, chmod, fromStage, fromImage, digest, describe, word };
  }

  private async copyInstruction(config: ImageConfig, ins: Instruction, plan: CopyPlan): Promise<void> {
    let fromMount: StepRootfs | undefined;
    try {
      let sources: CopySource[] = [];
      if (plan.fromStage || plan.fromImage) {
        const diffIds = plan.fromStage ? plan.fromStage.config.rootfs.diff_ids : plan.fromImage!.config.rootfs.diff_ids;
        fromMount = await openStepRootfs(this.deps.root, this.deps.images, diffIds);
        const mount = fromMount;
        sources = plan.srcs.map((s) => {
          const resolved = resolveInScope(mount.rootfs, s);
          const abs = `${mount.rootfs}${resolved === '/' ? '' : resolved}`;
          const st = statOrNull(abs);
          if (!st) throw new HullError('NOT_FOUND', `${plan.cmd} failed: stat ${s}: file does not exist (in ${plan.fromStage ? 'stage' : 'image'} ${ins.flags.from?.at(-1)})`);
          return { abs, isDir: st.isDirectory(), name: posix.basename(resolved) };
        });
      } else {
        sources = resolveSources(this.ctx, plan.srcs, plan.cmd).map((s) => ({
          abs: s.abs,
          isDir: s.isDir,
          name: posix.basename(s.rel),
          ...(s.isDir ? { exclude: excludeBelow(this.ctx, s) } : {}),
          ...(ins.cmd === 'add' ? { extract: true } : {}),
        }));
      }
      await this.fsStep(config, async (step) => {
        const extra: CopySource[] = [];
        for (const h of plan.inline) {
          const file = join(step.dir, `heredoc-${extra.length}`);
          writeFileSync(file, h.expand ? plan.word(h.content) : h.content, { mode: 0o644 });
          extra.push({ abs: file, isDir: false, name: h.name });
        }
        for (const u of plan.urls) extra.push({ abs: u.file, isDir: false, name: u.name });
        const owner = plan.chown ? await chownOwner(step.rootfs, plan.chown) : { uid: 0, gid: 0 };
        await copyInto(step.rootfs, [...sources, ...extra], plan.dest, plan.multi || sources.length + extra.length > 1, {
          owner,
          ...(plan.chmod !== undefined ? { mode: plan.chmod } : {}),
          cmd: plan.cmd,
        });
      });
    } finally {
      if (fromMount) await closeStepRootfs(this.deps.images, fromMount, [], false);
    }
  }
}

interface CopyPlan {
  ins: Instruction;
  cmd: string;
  srcs: string[];
  urls: Download[];
  inline: { name: string; content: string; expand: boolean }[];
  dest: string;
  multi: boolean;
  chown?: string | undefined;
  chmod?: number | undefined;
  fromStage?: StageResult | undefined;
  fromImage?: StoredImage | undefined;
  digest: string;
  describe: string;
  word: (s: string) => string;
}

function statOrNull(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

/** `--chown=user[:group]` resolved in the step's root; a bare numeric uid means uid:uid (Docker). */
async function chownOwner(rootfs: string, spec: string): Promise<{ uid: number; gid: number }> {
  if (/^\d+$/.test(spec)) return { uid: Number(spec), gid: Number(spec) };
  const u = await resolveUser(rootfs, spec);
  return { uid: u.uid, gid: u.gid };
}

interface Download {
  url: string;
  file: string;
  name: string;
  digest: string;
}

/** ADD <url>: the body into `file`, 0600 as Docker does, the mtime from Last-Modified; returns its sha256. */
async function download(url: string, file: string, signal?: AbortSignal): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { ...(signal ? { signal } : {}) });
  } catch (e) {
    throw new HullError('REGISTRY_UNREACHABLE', `ADD failed: cannot download ${url}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok) throw new HullError('NOT_FOUND', `ADD failed: failed to GET ${url} with status ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  writeFileSync(file, body);
  chmodSync(file, 0o600);
  const lm = res.headers.get('last-modified');
  if (lm) {
    const t = new Date(lm);
    if (!Number.isNaN(t.getTime())) utimesSync(file, t, t);
  }
  return createHash('sha256').update(body).digest('hex');
}
