/**
 * The facade both front ends call (cli/ now, api/ later). It owns the state root and the open
 * database, and turns user intent into image/, container/ and vm/ operations.
 */
import type { Readable, Writable } from 'node:stream';
// Transfer code (registry client, archives, layer unpacking) is imported when a verb needs it:
// every command pays Node's module loading at start, and `hull run` should not pay for `pull`.
import type { BuildProgress, BuildResult, EngineBuildOptions } from './build.js';
import type { LoadResult } from '../image/archive/load.js';
import type { ImportOptions } from '../image/archive/import.js';
import type { Platform } from '../image/media-types.js';
import type { ProgressSink } from '../image/progress.js';
import type { PullResult } from '../image/pull.js';
import type { PushResult } from '../image/push.js';
import type { RequestCredentials } from '../image/registry/credentials.js';
import { DEFAULT_DOMAIN, familiarString, parseNormalizedTagged } from '../image/reference.js';
import { ImageStore } from '../image/store.js';
import { handOverDb, openDb, type Db } from '../state/db.js';
import { HullError } from '../util/errors.js';
import { span } from '../util/trace.js';
import { ContainerService } from './containers.js';
import { VolumeService } from './volumes.js';
import { NetworkService } from './networks.js';
import type { EngineEvents } from './events.js';
import { imageHistory, imageInspect, type HistoryItem, type ImageSummary } from './image-views.js';
import { listImages, pruneImages, removeImage, tagImage, type DeleteItem, type ImageFilters } from './images.js';

export const DEFAULT_ROOT = '/var/lib/hull';

export function resolveRoot(flag?: string): string {
  return flag ?? process.env.HULL_ROOT ?? DEFAULT_ROOT;
}

export class Engine {
  readonly containers: ContainerService;
  readonly volumes: VolumeService;
  readonly networks: NetworkService;
  readonly events: EngineEvents;

  private constructor(
    readonly root: string,
    private readonly db: Db,
    readonly images: ImageStore,
  ) {
    this.containers = new ContainerService(root, db, images);
    this.volumes = new VolumeService(this.containers);
    this.networks = new NetworkService(root, db, (ref) => this.containers.find(ref));
    this.containers.networks = this.networks;
    this.events = this.containers.events;
  }

  /**
   * `existing`: only a root that exists, and nothing made in it (no directories, no sweep): for
   * the monitor's exit command, which may run while the root is being deleted.
   */
  static async open(root: string, opts: { existing?: boolean } = {}): Promise<Engine> {
    const db = span('engine: sqlite open + migrate', () => openDb(root, opts));
    const images = new ImageStore(root, db);
    if (!opts.existing) await span('engine: image store init (sweep)', () => images.init());
    return new Engine(root, db, images);
  }

  close(): void {
    this.db.close();
  }

  /** For a process that ends without closing: see state/db.ts `handOverDb`. */
  handOver(): void {
    handOverDb(this.db);
  }

  async pull(ref: string, opts: { platform?: Platform; progress: ProgressSink; signal?: AbortSignal }): Promise<PullResult> {
    const { pullImage } = await import('../image/pull.js');
    const r = await pullImage(this.images, ref, opts);
    this.events.image(familiarString(r.ref), 'pull');
    return r;
  }

  async push(ref: string, progress: ProgressSink): Promise<PushResult> {
    const { pushImage } = await import('../image/push.js');
    const r = await pushImage(this.images, ref, progress);
    this.events.image(familiarString(r.ref), 'push');
    return r;
  }

  /** Every local tag of a repository, for `push --all-tags`. */
  tagsOfRepository(repository: string): string[] {
    return this.images.records
      .allTags()
      .map((t) => t.name)
      .filter((n) => n.slice(0, n.lastIndexOf(':')) === repository);
  }

  listImages(filters?: ImageFilters): ImageSummary[] {
    return listImages(this.images, filters);
  }

  inspectImage(name: string): Record<string, unknown> {
    return imageInspect(this.images, this.images.get(name));
  }

  history(name: string): HistoryItem[] {
    return imageHistory(this.images, this.images.get(name));
  }

  tag(source: string, target: string): void {
    tagImage(this.images, source, target);
    this.events.image(this.images.get(target).id, 'tag', familiarString(parseNormalizedTagged(target)));
  }

  async removeImage(name: string, opts: { force?: boolean } = {}): Promise<DeleteItem[]> {
    const id = this.images.get(name).id;
    const items = await removeImage(this.images, name, { ...opts, usedBy: (i) => this.containers.imageUsers(i).map((c) => c.id) });
    for (const it of items) this.events.image(id, 'Untagged' in it ? 'untag' : 'delete', 'Untagged' in it ? it.Untagged : it.Deleted);
    return items;
  }

  pruneImages(opts: { all?: boolean; filters?: ImageFilters } = {}): Promise<{ ImagesDeleted: DeleteItem[]; SpaceReclaimed: number }> {
    return pruneImages(this.images, { ...opts, usedBy: (id) => this.containers.imageUsers(id).map((c) => c.id) });
  }

  async save(names: string[], out: Writable): Promise<void> {
    if (names.length === 0) throw new HullError('INVALID_ARGUMENT', '"save" requires at least 1 argument');
    const { saveImages } = await import('../image/archive/save.js');
    return saveImages(this.images, names, out);
  }

  async load(input: Readable, progress: ProgressSink): Promise<LoadResult> {
    const { loadArchive } = await import('../image/archive/load.js');
    const r = await loadArchive(this.images, input, progress);
    for (const img of r.images) this.events.image(img.id, 'load', img.tags[0] ?? img.id);
    return r;
  }

  async import(input: Readable, opts: ImportOptions): Promise<string> {
    const { importRootfs } = await import('../image/archive/import.js');
    const id = await importRootfs(this.images, input, opts);
    this.events.image(id, 'import');
    return id;
  }

  /** `hull build`: `context` is a directory, a tar file, or a tar stream. */
  async build(context: string | Readable, opts: EngineBuildOptions, progress: BuildProgress): Promise<BuildResult> {
    const { build } = await import('./build.js');
    const deps = {
      root: this.root,
      db: this.db,
      images: this.images,
      networks: this.networks,
      pull: async (ref: string, signal?: AbortSignal) => {
        progress(`pulling ${ref}`);
        await this.pull(ref, { progress: () => undefined, ...(signal ? { signal } : {}) });
      },
    };
    return build(deps, context, opts, progress);
  }

  /** `hull builder prune`: the build cache and the layers only it kept; returns the bytes freed. */
  async pruneBuildCache(): Promise<number> {
    const { BuildCache } = await import('../build/cache.js');
    return new BuildCache(this.db, this.images).prune();
  }

  /** Check the credentials against the registry, then keep them in ~/.docker/config.json. */
  async login(server: string | undefined, username: string, password: string): Promise<void> {
    const domain = normalizeServer(server);
    const { checkLogin } = await import('../image/registry/connect.js');
    const { saveCredentials } = await import('../image/registry/credentials.js');
    await checkLogin(domain, username, password);
    await saveCredentials(domain, username, password);
  }

  /** Run registry work with the credentials a client sent (X-Registry-Auth, X-Registry-Config) instead of the config file's. */
  async withCredentials<T>(creds: RequestCredentials | undefined, fn: () => Promise<T>): Promise<T> {
    if (!creds) return fn();
    const { withRequestCredentials } = await import('../image/registry/credentials.js');
    return withRequestCredentials(creds, fn);
  }

  /** Check credentials against the registry without keeping them (the API's POST /auth). */
  async checkLogin(server: string | undefined, username: string, password: string): Promise<void> {
    const { checkLogin } = await import('../image/registry/connect.js');
    await checkLogin(normalizeServer(server), username, password);
  }

  async logout(server: string | undefined): Promise<boolean> {
    const { removeCredentials } = await import('../image/registry/credentials.js');
    return removeCredentials(normalizeServer(server));
  }
}

/** `docker login` accepts `https://host/`, `host`, or nothing (Docker Hub). */
export function normalizeServer(server: string | undefined): string {
  if (!server) return DEFAULT_DOMAIN;
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return DEFAULT_DOMAIN;
  return host;
}
