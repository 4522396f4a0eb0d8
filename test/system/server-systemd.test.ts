import { spawn } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAIN_JS, agentRequest, cleanEnv, cleanupSystem, makeTempDir, requireBuild, runProgram } from './harness/agent-process.js';
import { describeWithTools } from './harness/sshd.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';

afterAll(async () => {
  await cleanupSystem();
});

/**
 * systemd-socket-activate binding `path` and running `args` on the first connection, as a
 * .socket unit would (the listening socket as fd 3, LISTEN_PID/LISTEN_FDS set); its stderr is
 * collected. Answers once the socket exists.
 */
async function activate(path: string, args: readonly string[]) {
  const child = spawn(ACTIVATE, ['-l', path, ...args], { env: cleanEnv({ DEBUG: 'debug' }), stdio: ['ignore', 'ignore', 'pipe'] });
  const activated = { child, stderr: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stderr.setEncoding('utf8').on('data', (s: string) => (activated.stderr += s));
  for (let i = 0; i < 100; i++) {
    if (await stat(path).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return activated;
}

describeWithTools('systemd socket activation', [ACTIVATE], () => {
  it('serves on the socket systemd passes (LISTEN_FDS), and leaves it in place on SIGTERM', async () => {
    requireBuild();
    const path = join(await makeTempDir(), 'activated.sock');
    const activated = await activate(path, [process.execPath, MAIN_JS]);
    const { child, exited } = activated;
    try {
      expect(await agentRequest(path, Uint8Array.of(11))).toEqual(Uint8Array.of(12, 0, 0, 0, 0));
      expect(activated.stderr).toContain('"address":"fd 3 (systemd)"');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // systemd owns the socket file: the daemon must not unlink it.
      expect((await stat(path)).isSocket()).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

const SETPRIV = '/usr/bin/setpriv';
const USERADD = '/usr/sbin/useradd';
const USERDEL = '/usr/sbin/userdel';

describeWithTools('systemd socket activation with SocketMode=0666: another uid is refused', [ACTIVATE, SETPRIV, USERADD, USERDEL, '/usr/bin/ssh-add'], () => {
  const user = `oca-peer-${process.pid.toString(36)}`;
  let uid = -1;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test creates a throwaway user and needs root');
    const add = await runProgram(USERADD, ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    if (add.code !== 0) throw new Error(`useradd failed: ${add.stderr}`);
    uid = Number((await runProgram('/usr/bin/id', ['-u', user])).stdout.trim());
  });

  afterAll(async () => {
    await runProgram(USERDEL, [user]);
  });

  it('lists keys for root, closes the connection of uid N with "uid mismatch" in the log', async () => {
    requireBuild();
    const dir = await makeTempDir();
    await chmod(dir, 0o755);
    const path = join(dir, 'activated.sock');
    // systemd-socket-activate passes only the variables named with -E.
    const activated = await activate(path, ['-E', 'DEBUG=debug', process.execPath, MAIN_JS, '--simulate', '--simulate-state', join(dir, 'card.json')]);
    const { child, exited } = activated;
    try {
      // What a .socket unit with the default SocketMode=0666 makes: anyone may connect.
      await chmod(path, 0o666);
      const asOther = await runProgram(SETPRIV, ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', '/usr/bin/ssh-add', '-L'], {
        env: cleanEnv({ SSH_AUTH_SOCK: path }),
        timeoutMs: 60_000,
      });
      expect(asOther.code).not.toBe(0);
      expect(asOther.stdout).not.toContain('ssh-');
      const asRoot = await runProgram('/usr/bin/ssh-add', ['-L'], { env: cleanEnv({ SSH_AUTH_SOCK: path }) });
      expect(asRoot.code).toBe(0);
      expect(asRoot.stdout).toMatch(/^ssh-ed25519 /);
      const lines = (): Array<Record<string, unknown>> =>
        activated.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      // The daemon's log reaches us asynchronously: wait for the line, not for a time.
      const logged = async (pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
        for (;;) {
          const found = lines().find(pred);
          if (found !== undefined) return found;
          await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
        }
      };
      expect(await logged((l) => String(l['msg']).startsWith('uid mismatch'))).toMatchObject({ uid, program: 'ssh-add' });
      expect(await logged((l) => l['msg'] === 'peer' && l['uid'] === 0)).toMatchObject({ program: 'ssh-add' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);
});
