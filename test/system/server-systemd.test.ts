import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { MAIN_JS, agentRequest, cleanEnv, cleanupSystem, makeTempDir, requireBuild } from './harness/agent-process.js';
import { describeWithTools } from './harness/sshd.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';

afterAll(async () => {
  await cleanupSystem();
});

describeWithTools('systemd socket activation', [ACTIVATE], () => {
  it('serves on the socket systemd passes (LISTEN_FDS), and leaves it in place on SIGTERM', async () => {
    requireBuild();
    const path = join(await makeTempDir(), 'activated.sock');
    // systemd-socket-activate binds PATH, then on the first connection execs the daemon with the
    // listening socket as fd 3 and LISTEN_PID/LISTEN_FDS set, as a .socket unit would.
    const child = spawn(ACTIVATE, ['-l', path, process.execPath, MAIN_JS], {
      env: cleanEnv({ DEBUG: 'debug' }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 100; i++) {
        if (await stat(path).then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await agentRequest(path, Uint8Array.of(11))).toEqual(Uint8Array.of(12, 0, 0, 0, 0));
      expect(stderr).toContain('"address":"fd 3 (systemd)"');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // systemd owns the socket file: the daemon must not unlink it.
      expect((await stat(path)).isSocket()).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
