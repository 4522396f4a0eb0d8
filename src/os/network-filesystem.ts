import { readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { koffi, libc } from './ffi.js';

/**
 * Is a path on a network (or user-space) filesystem? A unix socket there is a poor place for an
 * agent: an NFS home is shared with other machines, its permissions are the server's to keep,
 * and some such filesystems cannot hold sockets at all. Used to choose the socket directory,
 * and by `doctor`.
 *
 * Linux: the filesystem type from /proc/self/mountinfo (the mount with the longest mount point
 * above the path), else statfs(2)'s f_type through koffi. Elsewhere: unknown (undefined).
 */
export interface FilesystemInfo {
  /** The type as the kernel names it ("nfs4", "cifs", "fuse.sshfs", "ext4"), or "magic 0x6969" from statfs. */
  readonly type: string;
  readonly network: boolean;
  readonly source: 'mountinfo' | 'statfs';
}

/** Filesystem types (mountinfo names) whose files live on another machine or in a user-space daemon. */
const NETWORK_TYPES = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'ncp', 'afs', 'coda', 'ceph', '9p', 'glusterfs',
  'lustre', 'gpfs', 'ocfs2', 'gfs2', 'panfs', 'beegfs', 'pvfs2', 'orangefs', 'davfs', 'fuse', 'sshfs',
]);

/** statfs(2) f_type magic numbers of the same (linux/magic.h and the filesystems' own headers). */
const NETWORK_MAGIC: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
  [0x73757245, 'coda'],
  [0x5346414f, 'afs'],
  [0x6b414653, 'afs'],
  [0x00c36400, 'ceph'],
  [0x01021997, '9p'],
  [0x564c, 'ncp'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
  [0xaad7aaea, 'panfs'],
]);

/** True for a mountinfo filesystem type that is a network or FUSE filesystem (`fuseblk`, a local disk through FUSE, is not). */
export function isNetworkType(type: string): boolean {
  if (type === 'fuseblk') return false;
  return NETWORK_TYPES.has(type) || type.startsWith('fuse.') || type.startsWith('nfs');
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The filesystem type of the mount holding `path` (already resolved), from mountinfo text. */
export function typeFromMountinfo(mountinfo: string, path: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const point = fields[4] === undefined ? undefined : unescapeMount(fields[4]);
    const type = line.slice(sep + 3).split(' ')[0];
    if (point === undefined || type === undefined) continue;
    const under = point === '/' || path === point || path.startsWith(`${point}/`);
    // Later lines are mounted over earlier ones at the same point: >= keeps the last.
    if (under && (best === undefined || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type;
}

/** The nearest existing ancestor of `path`, resolved (the socket's directory may not exist yet). */
function resolveExisting(path: string): string {
  let p = path;
  for (;;) {
    try {
      return realpathSync(p);
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

let statfsFn: ((path: string, out: { f_type?: number | bigint }) => number) | undefined;

function statfsType(path: string): number | undefined {
  try {
    if (statfsFn === undefined) {
      const k = koffi();
      // struct statfs starts with f_type (__fsword_t, a long); the rest is room for the kernel to fill.
      const Statfs = k.struct('oca_statfs', { f_type: 'long', rest: k.array('uint8', 256) });
      statfsFn = libc().func('statfs', 'int', ['str', k.out(k.pointer(Statfs))]) as unknown as typeof statfsFn;
    }
    const out: { f_type?: number | bigint } = {};
    if (statfsFn!(path, out) !== 0 || out.f_type === undefined) return undefined;
    return Number(BigInt.asUintN(32, BigInt(out.f_type)));
  } catch {
    return undefined;
  }
}

/** The filesystem holding `path` (or its nearest existing ancestor); undefined when this OS cannot tell. */
export function filesystemOf(path: string, mountinfoPath = '/proc/self/mountinfo'): FilesystemInfo | undefined {
  if (process.platform !== 'linux') return undefined;
  const real = resolveExisting(path);
  try {
    const type = typeFromMountinfo(readFileSync(mountinfoPath, 'utf8'), real);
    if (type !== undefined) return { type, network: isNetworkType(type), source: 'mountinfo' };
  } catch {
    // No /proc (a chroot, a container without it): ask the kernel directly.
  }
  const magic = statfsType(real);
  if (magic === undefined) return undefined;
  const name = NETWORK_MAGIC.get(magic);
  return { type: name ?? `magic 0x${magic.toString(16)}`, network: name !== undefined, source: 'statfs' };
}

/** The magic number statfs(2) reports for `path`, for tests and `doctor`. */
export function statfsMagic(path: string): number | undefined {
  return process.platform === 'linux' ? statfsType(resolveExisting(path)) : undefined;
}

/** True when `path` is known to be on a network or FUSE filesystem. */
export function isOnNetworkFilesystem(path: string): boolean {
  return filesystemOf(path)?.network === true;
}
