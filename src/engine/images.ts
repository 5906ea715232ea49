/**
 * Image policy: what `rmi`, `tag`, `prune` and the listings mean, in Docker's terms. Transport
 * and storage live in image/; this file decides.
 */
import { formatReference, parseNormalizedTagged, parseReference, repositoryName } from '../image/reference.js';
import type { ImageStore, StoredImage } from '../image/store.js';
import type { ImageRow } from '../state/images.js';
import { HullError } from '../util/errors.js';
import { familiar, imageSummary, type ImageSummary } from './image-views.js';

export type DeleteItem = { Untagged: string } | { Deleted: string };

export interface ImageFilters {
  dangling?: boolean;
  reference?: string[];
  label?: string[];
  before?: string;
  since?: string;
}

/** Parse `--filter k=v` strings (repeatable) into ImageFilters, refusing unknown keys as Docker does. */
export function parseImageFilters(raw: string[]): ImageFilters {
  const f: ImageFilters = {};
  for (const item of raw) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new HullError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${item}`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    switch (key) {
      case 'dangling':
        if (value !== 'true' && value !== 'false' && value !== '1' && value !== '0') {
          throw new HullError('INVALID_ARGUMENT', `invalid filter 'dangling=${value}'`);
        }
        f.dangling = value === 'true' || value === '1';
        break;
      case 'reference':
        (f.reference ??= []).push(value);
        break;
      case 'label':
        (f.label ??= []).push(value);
        break;
      case 'before':
        f.before = value;
        break;
      case 'since':
        f.since = value;
        break;
      default:
        throw new HullError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
  }
  return f;
}

/** Glob as Docker's reference filter uses it (path.Match: `*` never crosses `/`). */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  return re.test(s);
}

function matchesReference(img: StoredImage, patterns: string[]): boolean {
  const names = img.tags.map(familiar);
  return names.some((n) => {
    const repo = n.slice(0, n.lastIndexOf(':'));
    return patterns.some((p) => globMatch(p, n) || globMatch(p, repo));
  });
}

function matchesLabels(img: StoredImage, labels: string[]): boolean {
  const have = img.config.config?.Labels ?? {};
  return labels.every((l) => {
    const eq = l.indexOf('=');
    return eq === -1 ? l in have : have[l.slice(0, eq)] === l.slice(eq + 1);
  });
}

export function listImages(store: ImageStore, filters: ImageFilters = {}): ImageSummary[] {
  let images = store.list();
  if (filters.dangling !== undefined) images = images.filter((i) => (i.tags.length === 0) === filters.dangling);
  if (filters.reference) images = images.filter((i) => matchesReference(i, filters.reference!));
  if (filters.label) images = images.filter((i) => matchesLabels(i, filters.label!));
  const created = (i: StoredImage): number => Date.parse(i.config.created ?? i.row.createdAt);
  if (filters.before) {
    const t = created(store.get(filters.before));
    images = images.filter((i) => created(i) < t);
  }
  if (filters.since) {
    const t = created(store.get(filters.since));
    images = images.filter((i) => created(i) > t);
  }
  return images.map(imageSummary).sort((a, b) => b.Created - a.Created);
}

export function tagImage(store: ImageStore, source: string, target: string): void {
  const img = store.get(source);
  const ref = parseNormalizedTagged(target);
  if (ref.digest) throw new HullError('INVALID_ARGUMENT', `refusing to create a tag with a digest reference`);
  store.records.setTag(formatReference(ref), img.id);
}

/**
 * `docker rmi`: a name untags; the image itself goes when its last tag does (or when named by
 * id). An id shared by several repositories needs --force, as in Docker.
 */
export async function removeImage(
  store: ImageStore,
  name: string,
  opts: { force?: boolean; usedBy?: (imageId: string) => string[] } = {},
): Promise<DeleteItem[]> {
  const img = store.get(name);
  const users = opts.usedBy?.(img.id) ?? [];
  const out: DeleteItem[] = [];
  const byName = isNameReference(name, img);
  const removedRows: ImageRow[] = [];
  store.records.transaction(() => {
    if (byName) {
      const ref = parseReference(name);
      if (ref.digest) {
        store.records.removeRepoDigestsOf(img.id, repositoryName(ref));
        out.push({ Untagged: familiar(`${repositoryName(ref)}@${ref.digest}`) });
      } else {
        const canonical = formatReference({ ...ref, tag: ref.tag ?? 'latest' });
        if (users.length > 0 && !opts.force && img.tags.length === 1) {
          throw new HullError(
            'CONFLICT',
            `conflict: unable to remove repository reference "${name}" (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${img.id.slice(7, 19)}`,
          );
        }
        store.records.removeTag(canonical);
        out.push({ Untagged: familiar(canonical) });
        // Docker drops the repo digests of that repository along with its last tag.
        const repo = repositoryName(ref);
        if (!store.records.tagsOf(img.id).some((t) => t.startsWith(`${repo}:`))) {
          for (const d of store.records.repoDigestsOf(img.id).filter((d) => d.repository === repo)) {
            out.push({ Untagged: familiar(`${d.repository}@${d.digest}`) });
          }
          store.records.removeRepoDigestsOf(img.id, repo);
        }
      }
      if (store.records.tagsOf(img.id).length > 0) return;
      // Its last name is gone but a container still runs from it: the image stays, untagged.
      if (users.length > 0) return;
    } else {
      if (users.length > 0) {
        throw new HullError(
          'CONFLICT',
          `conflict: unable to delete ${img.id.slice(7, 19)} (${opts.force ? 'cannot be forced' : 'must be forced'}) - image is being used by container ${users[0]!.slice(0, 12)}`,
        );
      }
      const repos = new Set(img.tags.map((t) => repositoryName(parseReference(t))));
      if (repos.size > 1 && !opts.force) {
        throw new HullError(
          'CONFLICT',
          `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
        );
      }
      for (const t of img.tags) {
        store.records.removeTag(t);
        out.push({ Untagged: familiar(t) });
      }
      for (const d of img.repoDigests) out.push({ Untagged: familiar(d) });
    }
    store.records.deleteImage(img.id);
    removedRows.push(img.row);
    out.push({ Deleted: img.id });
  });
  if (removedRows.length > 0) await store.collectGarbage(removedRows);
  return out;
}

/** True when the user named the image by reference rather than by (a prefix of) its id. */
function isNameReference(name: string, img: StoredImage): boolean {
  if (name.startsWith('sha256:')) return false;
  if (!/^[a-f0-9]+$/.test(name) || !img.id.slice(7).startsWith(name)) return true;
  // A hex word that is both an id prefix and a tag of this image: Docker takes it as the tag.
  return img.tags.includes(formatReference(parseNormalizedTagged(name)));
}

export async function pruneImages(
  store: ImageStore,
  opts: { all?: boolean; filters?: ImageFilters; usedBy?: (imageId: string) => string[] } = {},
): Promise<{ ImagesDeleted: DeleteItem[]; SpaceReclaimed: number }> {
  const candidates = store.list().filter((i) => (opts.all || i.tags.length === 0) && (opts.usedBy?.(i.id).length ?? 0) === 0);
  const filtered = opts.filters?.label ? candidates.filter((i) => matchesLabels(i, opts.filters!.label!)) : candidates;
  const deleted: DeleteItem[] = [];
  const rows: ImageRow[] = [];
  store.records.transaction(() => {
    for (const img of filtered) {
      for (const t of img.tags) {
        store.records.removeTag(t);
        deleted.push({ Untagged: familiar(t) });
      }
      store.records.deleteImage(img.id);
      rows.push(img.row);
      deleted.push({ Deleted: img.id });
    }
  });
  const { reclaimed } = await store.collectGarbage(rows);
  return { ImagesDeleted: deleted, SpaceReclaimed: reclaimed };
}

