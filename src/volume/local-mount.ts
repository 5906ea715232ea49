/**
 * The local driver's `type`/`device`/`o` options turned into one mount(2) call, as Docker's
 * local driver does (mount.ParseOptions): flag words in `o` become mount flags, the rest is
 * the filesystem's data string. Synchronous on purpose: it runs inside the database
 * transaction that serialises a volume's users (volume/store.ts).
 */
import { HullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';

const MS_BIND = 4096;
const MS_REC = 16384;

/** Words that set a flag (Linux's values), and words that clear one. */
const SET: Record<string, number> = {
  ro: 1, nosuid: 2, nodev: 4, noexec: 8, sync: 16, dirsync: 128, noatime: 1024, nodiratime: 2048,
  bind: MS_BIND, rbind: MS_BIND | MS_REC, relatime: 1 << 21, strictatime: 1 << 24,
};
const CLEAR: Record<string, number> = { rw: 1, suid: 2, dev: 4, exec: 8, async: 16, atime: 1024, diratime: 2048, norelatime: 1 << 21 };

export function parseMountOptions(o: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const word of o.split(',').filter(Boolean)) {
    if (word in SET) flags |= SET[word]!;
    else if (word in CLEAR) flags &= ~CLEAR[word]!;
    else data.push(word);
  }
  return { flags, data: data.join(',') };
}

export function mountLocalVolume(options: Record<string, string>, target: string): void {
  const { flags, data } = parseMountOptions(options.o ?? '');
  const device = options.device || options.type || 'none';
  try {
    nativeAddon().mount(device, target, options.type || 'none', flags, data);
  } catch (e) {
    throw new HullError('INTERNAL', `error while mounting volume '${target}': failed to mount local volume: mount ${device}:${target}, data: ${data}: ${(e as Error).message}`);
  }
}
