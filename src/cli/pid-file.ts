import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The name the daemon gives itself (process.title), so `ps` and the checks below know it. */
export const PROCESS_TITLE = 'openpgp-card-agent';

/** A file beside the socket: `agent.sock` → `agent.pid` (or `.log`); other names get the suffix. */
export function besideSocket(socketPath: string, ext: 'pid' | 'log'): string {
  return join(dirname(socketPath), `${basename(socketPath).replace(/\.sock$/, '')}.${ext}`);
}

export function pidFilePath(socketPath: string): string {
  return besideSocket(socketPath, 'pid');
}

/** Writes our pid beside the socket (0600; the directory is private already). */
export async function writePidFile(socketPath: string, pid = process.pid): Promise<string> {
  const path = pidFilePath(socketPath);
  await writeFile(path, `${pid}\n`, { mode: 0o600 });
  return path;
}

/** Removes the pid file if it still names `pid` (a newer agent may have taken the socket since). */
export async function removePidFile(socketPath: string, pid = process.pid): Promise<void> {
  if (readPidFile(socketPath) === pid) await rm(pidFilePath(socketPath), { force: true });
}

/** The pid in the file beside the socket, if there is a well-formed one. */
export function readPidFile(socketPath: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidFilePath(socketPath), 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d{1,10})\s*$/.exec(text);
  const pid = m === null ? NaN : Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/** What a pid names: a live process that is an openpgp-card-agent, some other process, or none. */
export type PidState = 'agent' | 'other' | 'dead';

/** True while `pid` names a live (not zombie) process. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; a zombie has exited, it just is not reaped yet.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Whether `pid` is one of our daemons. Where /proc tells (Linux) its command line must start
 * with our process title, so a pid file left behind never names an unrelated process that got
 * the number since; elsewhere a live process is taken at its word.
 */
export function pidState(pid: number): PidState {
  if (!processAlive(pid)) return 'dead';
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return process.platform === 'linux' ? 'dead' : 'agent';
  }
  return cmdline.startsWith(PROCESS_TITLE) ? 'agent' : 'other';
}

/** The pid of the agent serving `socketPath`, from its pid file, if that names a live agent. */
export function agentPid(socketPath: string): number | undefined {
  const pid = readPidFile(socketPath);
  return pid !== undefined && pidState(pid) === 'agent' ? pid : undefined;
}
