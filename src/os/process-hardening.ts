import type { Logger } from '../log.js';
import { koffi, libc } from './ffi.js';

/**
 * Keeps other processes of the same user from reading this one's memory (where PINs live while
 * they are used), as OpenSSH's ssh-agent does at start (platform_disable_tracing() in
 * platform-tracing.c, and RLIMIT_CORE = 0 in ssh-agent.c):
 * - Linux: prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace attach and no /proc/PID/mem for
 *   the same uid (root with CAP_SYS_PTRACE still can);
 * - macOS: ptrace(PT_DENY_ATTACH): debuggers cannot attach;
 * - FreeBSD: procctl(P_PID, pid, PROC_TRACE_CTL, PROC_TRACE_CTL_DISABLE);
 * - everywhere with setrlimit: no core file (RLIMIT_CORE 0).
 * Windows has no equivalent we can set for ourselves: nothing is done there.
 */

const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;
const PT_DENY_ATTACH = 31;
const P_PID = 0;
const PROC_TRACE_CTL = 7;
const PROC_TRACE_CTL_DISABLE = 2;
const RLIMIT_CORE = 4;

export interface HardeningResult {
  /** What was set, e.g. "prctl(PR_SET_DUMPABLE, 0)". */
  readonly applied: readonly string[];
  /** What could not be set, and why. */
  readonly failed: ReadonlyArray<{ readonly what: string; readonly reason: string }>;
}

type Fn = (...args: unknown[]) => number;

function attempt(what: string, call: () => number, out: { applied: string[]; failed: Array<{ what: string; reason: string }> }): void {
  try {
    const r = call();
    if (r === 0) out.applied.push(what);
    else out.failed.push({ what, reason: `returned ${r} (errno ${koffi().errno()})` });
  } catch (err) {
    out.failed.push({ what, reason: (err as Error).message });
  }
}

/** Applies what this OS allows and logs it (info when all is set, warn for what failed). */
export function hardenProcess(log?: Logger, platform: NodeJS.Platform = process.platform): HardeningResult {
  const out = { applied: [] as string[], failed: [] as Array<{ what: string; reason: string }> };
  if (platform === 'linux') {
    attempt('prctl(PR_SET_DUMPABLE, 0)', () => (libc().func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)') as Fn)(PR_SET_DUMPABLE, 0, 0, 0, 0), out);
  } else if (platform === 'darwin') {
    attempt('ptrace(PT_DENY_ATTACH)', () => (libc().func('int ptrace(int request, int pid, void *addr, int data)') as Fn)(PT_DENY_ATTACH, 0, null, 0), out);
  } else if (platform === 'freebsd') {
    attempt('procctl(PROC_TRACE_CTL, PROC_TRACE_CTL_DISABLE)', () => {
      const arg = new Int32Array([PROC_TRACE_CTL_DISABLE]);
      return (libc().func('int procctl(int idtype, int64_t id, int cmd, void *data)') as Fn)(P_PID, process.pid, PROC_TRACE_CTL, arg);
    }, out);
  }
  if (platform !== 'win32') {
    attempt('setrlimit(RLIMIT_CORE, 0)', () => {
      // struct rlimit { rlim_t rlim_cur, rlim_max; }: two 64-bit values on the 64-bit systems we run on.
      const zero = new BigUint64Array([0n, 0n]);
      return (libc().func('int setrlimit(int resource, void *rlim)') as Fn)(RLIMIT_CORE, zero);
    }, out);
  }
  if (log !== undefined) {
    if (out.failed.length > 0) log.warn({ failed: out.failed, applied: out.applied }, 'process hardening incomplete: other processes of this user may be able to read PINs from memory');
    // Debug, not info: a refused start must stay one line on stderr.
    else if (out.applied.length > 0) log.debug({ applied: out.applied }, 'process hardened: not dumpable, not traceable');
  }
  return out;
}

/** Linux: whether the process may be dumped/traced by its own user (prctl PR_GET_DUMPABLE). */
export function isDumpable(): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  return (libc().func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)') as Fn)(PR_GET_DUMPABLE, 0, 0, 0, 0) !== 0;
}
