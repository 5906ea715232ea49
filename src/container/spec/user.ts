/**
 * The uid, gid and groups a container's process runs as, from Docker's user forms (`-u`, image
 * `User`): `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`, looked up in the
 * container's own /etc/passwd and /etc/group, plus `--group-add`. Same rules and error wording as
 * Docker (libcontainer's user.GetExecUser and GetAdditionalGroups).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { HullError, messageOf } from '../../util/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** The primary gid first (as Docker writes it), then /etc/group memberships, then `--group-add`. */
  additionalGids: number[];
  /** Home directory from passwd (`/` without an entry), for a default HOME. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2147483647;
const MAX_SYMLINKS = 40;

/** An id as Go's strconv.Atoi reads it (sign allowed), or undefined when the text is a name. */
function numeric(s: string): number | undefined {
  return /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
}

function checkRange(id: number): number {
  if (id < 0 || id > MAX_ID) throw new HullError('INVALID_ARGUMENT', `uids and gids must be in range 0-${MAX_ID}`);
  return id;
}

/**
 * Where `path` lands inside `rootfs` as the container would see it: symlinks are followed with
 * the rootfs as `/` and `..` stops at it, so a link can never lead to a host file. `undefined`
 * for a loop. (The container may change its files meanwhile; the final open refuses a symlink,
 * so at worst a racing container reads its own files.) Synchronous, as the read below: a
 * handful of syscalls on a container's start path, where each async call was a round trip
 * through libuv's thread pool (up to 40 ms for the two files on a loaded machine).
 */
function resolveInRoot(rootfs: string, path: string): string | undefined {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(rootfs, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // A missing component: the open below reports it as absent.
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) return undefined;
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(rootfs, ...resolved);
}

/** A file of the container's rootfs, or undefined when it is absent or not a regular file. */
function readRootfsFile(rootfs: string, path: string): string | undefined {
  const hostPath = resolveInRoot(rootfs, path);
  if (hostPath === undefined) return undefined;
  let fd;
  try {
    fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw new HullError('INVALID_ARGUMENT', `unable to read ${path} in the container: ${messageOf(e)}`, { cause: e });
  }
  try {
    // O_NONBLOCK and this check keep a FIFO or device planted at /etc/passwd from hanging us.
    if (!fstatSync(fd).isFile()) return undefined;
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function lines(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => l.split(':'));
}

// Lines with a non-numeric id are skipped; libcontainer would read them as id 0, i.e. root.
function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const [name = '', , uid = '', gid = '', , home = ''] of lines(text)) {
    const u = numeric(uid);
    const g = numeric(gid);
    if (u !== undefined && g !== undefined) out.push({ name, uid: u, gid: g, home });
  }
  return out;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const [name = '', , gid = '', members = ''] of lines(text)) {
    const g = numeric(gid);
    if (g !== undefined) out.push({ name, gid: g, members: members.split(',').filter((m) => m !== '') });
  }
  return out;
}

/**
 * Resolve a user spec against the container's rootfs. An empty spec means root. A numeric uid
 * without a passwd entry is allowed (gid 0), a name without one is an error, as in Docker.
 */
export function resolveUser(rootfs: string, spec: string | undefined, groupAdd: readonly string[] = []): Promise<ResolvedUser> {
  // An error thrown in the executor rejects the promise, as from an async function.
  return new Promise((resolve) => resolve(resolveUserSync(rootfs, spec, groupAdd)));
}

function resolveUserSync(rootfs: string, spec: string | undefined, groupAdd: readonly string[]): ResolvedUser {
  const passwdText = readRootfsFile(rootfs, '/etc/passwd');
  const groupText = readRootfsFile(rootfs, '/etc/group');
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);

  const [userArg = '', groupArg = ''] = (spec ?? '').split(':');
  const uidArg = numeric(userArg);
  const gidArg = numeric(groupArg);

  let uid = 0;
  let gid = 0;
  let home = '/';
  const entry = passwd.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  if (entry) {
    ({ uid, gid, home } = entry);
  } else if (userArg !== '') {
    if (uidArg === undefined) throw new HullError('INVALID_ARGUMENT', `unable to find user ${userArg}: no matching entries in passwd file`);
    uid = checkRange(uidArg);
  }

  const supplementary: number[] = [];
  if (groupArg !== '') {
    const g = groups.find((x) => (gidArg !== undefined ? x.gid === gidArg : x.name === groupArg));
    if (g) gid = g.gid;
    else if (gidArg === undefined) throw new HullError('INVALID_ARGUMENT', `unable to find group ${groupArg}: no matching entries in group file`);
    else gid = checkRange(gidArg);
  } else if (entry) {
    // Memberships count only in the implicit form: `-u app:staff` means exactly that group.
    for (const g of groups) if (g.members.includes(entry.name)) supplementary.push(g.gid);
  }

  const added = groupAdd.map((ag) => {
    const g = groups.find((x) => x.name === ag || String(x.gid) === ag);
    if (g) return g.gid;
    const n = numeric(ag);
    if (n === undefined) throw new HullError('INVALID_ARGUMENT', `Unable to find group ${ag}: no matching entries in group file`);
    return checkRange(n);
  });

  return { uid, gid, additionalGids: [...new Set([gid, ...supplementary, ...added])], home };
}
