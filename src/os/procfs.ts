import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

/** /proc/PID/FILE as text; throws where it cannot be read. `procRoot` stands in for /proc in tests. */
function readProc(pid: number, file: string, procRoot: string): string {
  return readFileSync(join(procRoot, String(pid), file), 'utf8');
}

/** Runs `read`; undefined when the file cannot be read (no /proc, the process gone or not ours). */
function readable<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

const parseArgv = (cmdline: string): string[] => cmdline.split('\0').filter((a) => a !== '');

export function processInfo(pid: number, procRoot = '/proc'): ProcessInfo | undefined {
  return readable(() => {
    const argv = parseArgv(readProc(pid, 'cmdline', procRoot));
    const comm = readProc(pid, 'comm', procRoot).trim();
    return { pid, argv, comm, uid: statSync(join(procRoot, String(pid))).uid };
  });
}

/** The pids /proc lists. */
export function processIds(procRoot = '/proc'): number[] {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Every process /proc lists that runs as `uid`. */
export function processesOf(uid: number, procRoot = '/proc'): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of processIds(procRoot)) {
    const p = processInfo(pid, procRoot);
    if (p !== undefined && p.uid === uid && p.argv.length > 0) out.push(p);
  }
  return out;
}

/** /proc/PID/cmdline as argv. */
export function processArgv(pid: number, procRoot = '/proc'): string[] | undefined {
  return readable(() => parseArgv(readProc(pid, 'cmdline', procRoot)));
}

/** /proc/PID/comm: the program name, at most 15 characters. */
export function processComm(pid: number, procRoot = '/proc'): string | undefined {
  return readable(() => readProc(pid, 'comm', procRoot).trim());
}

/** /proc/PID/environ as an object (readable for our own processes; all of them for root). */
export function processEnviron(pid: number, procRoot = '/proc'): NodeJS.ProcessEnv | undefined {
  return readable(() => {
    const env: NodeJS.ProcessEnv = {};
    for (const kv of readProc(pid, 'environ', procRoot).split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return env;
  });
}

/** The files a process has mapped (the path column of /proc/PID/maps: its program, the libraries it loaded). */
export function mappedFiles(pid: number, procRoot = '/proc'): string[] | undefined {
  return readable(() => {
    const paths = new Set<string>();
    // "address perms offset dev inode path"; anonymous mappings have no path.
    for (const m of readProc(pid, 'maps', procRoot).matchAll(/^\S+[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+(\S.*)$/gm)) paths.add(m[1]!);
    return [...paths];
  });
}

/** The State line of /proc/PID/status: "S (sleeping)", "T (stopped)" (SIGSTOP), "t (tracing stop)" ... */
export function processState(pid: number, procRoot = '/proc'): string | undefined {
  return readable(() => /^State:\s+(.*)$/m.exec(readProc(pid, 'status', procRoot))?.[1]);
}

/** The VmRSS line of /proc/PID/status: the resident set in KiB (undefined for a process without one, a kernel thread). */
export function processRssKiB(pid: number, procRoot = '/proc'): number | undefined {
  return readable(() => {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(pid, 'status', procRoot));
    return m === null ? undefined : Number(m[1]);
  });
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
