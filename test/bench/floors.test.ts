import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuPerSignature, internalAuthenticateInput, processesWithEnv, socketFloorUs } from '../../src/bench/floors.js';

const data = new Uint8Array(128).fill(7);
const linux = existsSync('/proc/self/task');

describe('bench floors: what the card is asked to sign', () => {
  it('is the message for Ed25519, its hash for ECDSA, a SHA-256 DigestInfo for RSA', () => {
    expect(internalAuthenticateInput('ed25519', data)).toEqual(data);
    expect(Buffer.from(internalAuthenticateInput('p256', data))).toEqual(createHash('sha256').update(data).digest());
    expect(Buffer.from(internalAuthenticateInput('p384', data))).toEqual(createHash('sha384').update(data).digest());
    const rsa = Buffer.from(internalAuthenticateInput('rsa2048', data));
    expect(rsa.subarray(0, 19).toString('hex')).toBe('3031300d060960864801650304020105000420');
    expect(rsa.subarray(19)).toEqual(createHash('sha256').update(data).digest());
    expect(() => internalAuthenticateInput('x25519', data)).toThrow(/no INTERNAL AUTHENTICATE input/);
  });
});

describe.runIf(linux)('bench floors: processes and CPU time', () => {
  it('finds a process by a variable in its environment', async () => {
    const mark = randomUUID();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { env: { ...process.env, OCA_FLOOR_MARK: mark }, stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      expect(processesWithEnv('OCA_FLOOR_MARK', mark)).toEqual([child.pid]);
      expect(processesWithEnv('OCA_FLOOR_MARK', `${mark}-other`)).toEqual([]);
    } finally {
      child.kill();
    }
  });

  it('counts the CPU time a process spends, per signature', async () => {
    const spin = (): void => {
      const start = process.cpuUsage();
      for (;;) {
        const u = process.cpuUsage(start);
        if (u.user + u.system >= 40_000) return;
      }
    };
    // 40 ms of CPU for "4 signatures": at least 10 ms each (the whole process is counted, so more may show).
    const { cpuUs } = await cpuPerSignature({ self: [process.pid], none: [] }, 4, async () => spin());
    expect(cpuUs['self']).toBeGreaterThanOrEqual(9_000);
    expect(cpuUs['none']).toBe(0);
  });
});

describe.runIf(process.platform !== 'win32')('bench floors: the socket round trip', () => {
  it('times round trips to a server that answers every request with an empty identities answer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-floor-'));
    try {
      const s = await socketFloorUs(join(dir, 'echo.sock'), 50);
      expect(s.p50).toBeGreaterThan(0);
      expect(s.p95).toBeGreaterThanOrEqual(s.p50);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
