import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/*
 * What Linux's /proc tells about processes and unix sockets. Every function answers undefined
 * or an empty list where /proc is missing (macOS, Windows) or a process is not ours to read.
 */

export function hasProcfs(): boolean {
  try {
    return statSync('/proc/self/fd').isDirectory();
  } catch {
    return false;
  }
}

export interface ProcessInfo {
  readonly pid: number;
  /** argv, as /proc/PID/cmdline has it (a process.title replaces it). */
  readonly argv: readonly string[];
  /** /proc/PID/comm (at most 15 characters). */
  readonly comm: string;
  readonly uid: number;
}

export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { pid, argv, comm, uid: statSync(`/proc/${pid}`).uid };
  } catch {
    return undefined;
  }
}

/** Every process /proc lists that runs as `uid`. */
export function processesOf(uid: number): ProcessInfo[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcessInfo[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const p = processInfo(Number(n));
    if (p !== undefined && p.uid === uid && p.argv.length > 0) out.push(p);
  }
  return out;
}

/** The inodes of listening unix sockets bound at `path` (/proc/net/unix, this network namespace). */
export function listeningSocketInodes(path: string): number[] {
  return unixSocketTable()
    .filter((s) => s.path === path && s.listening)
    .map((s) => s.inode);
}

/** The path a listening unix socket with this inode is bound at. */
export function socketPathOfInode(inode: number): string | undefined {
  return unixSocketTable().find((s) => s.inode === inode)?.path;
}

interface UnixSocketRow {
  readonly inode: number;
  readonly path: string;
  readonly listening: boolean;
}

/** /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; Flags 00010000 is __SO_ACCEPTCON. */
function unixSocketTable(): UnixSocketRow[] {
  let text: string;
  try {
    text = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return [];
  }
  const rows: UnixSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    rows.push({ inode: Number(f[6]), path: f.slice(7).join(' '), listening: (parseInt(f[3] ?? '0', 16) & 0x10000) !== 0 });
  }
  return rows;
}

/** Inodes of the sockets a process holds open (socket:[INODE] links in /proc/PID/fd). */
export function socketInodesOf(pid: number): number[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) out.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** The processes (of `uid`) that hold the listening socket bound at `path`. */
export function socketOwners(path: string, uid: number): ProcessInfo[] {
  const inodes = new Set(listeningSocketInodes(path));
  if (inodes.size === 0) return [];
  return processesOf(uid).filter((p) => socketInodesOf(p.pid).some((i) => inodes.has(i)));
}

/** The unix socket paths a process listens on. */
export function listeningPathsOf(pid: number): string[] {
  const table = unixSocketTable();
  const byInode = new Map(table.filter((s) => s.listening && s.path !== '').map((s) => [s.inode, s.path]));
  return socketInodesOf(pid)
    .map((i) => byInode.get(i))
    .filter((p): p is string => p !== undefined);
}
