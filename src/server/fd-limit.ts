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
