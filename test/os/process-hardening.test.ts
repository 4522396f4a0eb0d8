import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const VITE_NODE = join(HERE, '..', '..', 'node_modules', '.bin', 'vite-node');

describe('process hardening', () => {
  it.runIf(process.platform === 'linux')('a process that hardens itself is no longer dumpable and gets no core file (the kernel says so)', () => {
    const out = execFileSync(VITE_NODE, [join(HERE, 'fixtures', 'harden-child.ts')], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      before: { dumpable: boolean; core: string };
      after: { dumpable: boolean; core: string };
      result: { applied: string[]; failed: unknown[] };
    };
    expect(r.before.dumpable).toBe(true);
    expect(r.after).toEqual({ dumpable: false, core: '0 0' });
    expect(r.result).toEqual({ applied: ['prctl(PR_SET_DUMPABLE, 0)', 'setrlimit(RLIMIT_CORE, 0)'], failed: [] });
  });
});
