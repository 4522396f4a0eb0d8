import { readFileSync } from 'node:fs';
import { koffi, libc } from '../os/ffi.js';

type Getrlimit = (resource: number, out: { cur?: number | bigint }) => number;

/** getrlimit(2), bound once: koffi refuses a second struct of the same name. */
let getrlimitFn: Getrlimit | undefined;

function bindGetrlimit(): Getrlimit {
  const k = koffi();
  const Rlimit = k.struct('oca_rlimit', { cur: 'uint64', max: 'uint64' });
  return libc().func('getrlimit', 'int', ['int', k.out(k.pointer(Rlimit))]) as Getrlimit;
}

/**
 * The soft limit on open file descriptors (RLIMIT_NOFILE, `ulimit -n`), or undefined when it
 * cannot be read. Linux: /proc/self/limits; macOS and the BSDs: getrlimit(2) through koffi.
 *
 * Why the server wants it: when accept(2) fails with EMFILE, libuv quietly accepts and closes
 * the waiting connections (its "EMFILE trick") and Node never hears of it, so the server keeps
 * its own connection count below the limit and logs when it turns connections away.
 */
export function openFileLimit(limitsPath = '/proc/self/limits'): number | undefined {
  if (process.platform === 'linux') {
    try {
      const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(limitsPath, 'utf8'));
      if (m === null) return undefined;
      return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
    } catch {
      return undefined;
    }
  }
  if (process.platform === 'darwin' || process.platform === 'freebsd' || process.platform === 'openbsd') {
    try {
      const getrlimit = (getrlimitFn ??= bindGetrlimit());
      const out: { cur?: number | bigint } = {};
      // RLIMIT_NOFILE is 8 on macOS and the BSDs.
      if (getrlimit(8, out) !== 0 || out.cur === undefined) return undefined;
      const cur = BigInt(out.cur);
      return cur >= 2n ** 53n ? Number.POSITIVE_INFINITY : Number(cur);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** How old a read of the limit may get before the server reads it again: only prlimit(1) from outside changes it (the agent never calls setrlimit). */
export const FD_LIMIT_MAX_AGE_MS = 5000;

/**
 * RLIMIT_NOFILE as the server asks for it at every accept, without reading /proc/self/limits
 * each time: read when created, then again only when more connections are open than at the last
 * read (the limit matters as they grow, so one lowered by prlimit counts before it is reached) or
 * when the last read is FD_LIMIT_MAX_AGE_MS old (a timestamp, no timer). A read that fails keeps
 * the last limit known.
 */
export class OpenFileLimitWatch {
  readonly #read: () => number | undefined;
  readonly #now: () => number;
  #limit: number | undefined;
  #readAt: number;
  #connectionsAtRead = 0;

  constructor(read: () => number | undefined = () => openFileLimit(), now: () => number = () => performance.now()) {
    this.#read = read;
    this.#now = now;
    this.#limit = read();
    this.#readAt = now();
  }

  /** The limit last known. */
  get known(): number | undefined {
    return this.#limit;
  }

  /** The limit, with `connections` open now. */
  current(connections: number): number | undefined {
    const now = this.#now();
    if (connections > this.#connectionsAtRead || now - this.#readAt >= FD_LIMIT_MAX_AGE_MS) {
      this.#limit = this.#read() ?? this.#limit;
      this.#readAt = now;
      this.#connectionsAtRead = connections;
    }
    return this.#limit;
  }
}
