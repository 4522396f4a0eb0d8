import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, cleanEnv, runProgram } from './harness/agent-process.js';
import { DBUS_DAEMON, GNOME_KEYRING, KeyringSession, SECRET_TOOL } from './harness/keyring.js';
import { describeWithTools } from './harness/sshd.js';

/**
 * KeyringPinStore against a real gnome-keyring in a private D-Bus session (never the user's).
 * keyring-rs reaches the bus named by DBUS_SESSION_BUS_ADDRESS in the calling process's
 * environment, so each operation runs in a child (harness/keyring-store-child.ts under vite-node)
 * given the session's environment; the test runner's own environment is never changed.
 */
const VITE_NODE = join(REPO_ROOT, 'node_modules', '.bin', 'vite-node');
const CHILD = join(REPO_ROOT, 'test', 'system', 'harness', 'keyring-store-child.ts');

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; code?: string; message: string };

async function storeOp(env: NodeJS.ProcessEnv, op: string, ident: string, pin?: string): Promise<Outcome> {
  const r = await runProgram(VITE_NODE, [CHILD, '--', op, ident], { env, ...(pin === undefined ? {} : { input: pin }), timeoutMs: 60_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`child failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as Outcome;
}

describeWithTools('KeyringPinStore on gnome-keyring (Secret Service) in a private D-Bus session', [DBUS_DAEMON, GNOME_KEYRING, SECRET_TOOL], () => {
  let keyring: KeyringSession;
  const ident = '0006:12345678';
  const env = (): NodeJS.ProcessEnv => cleanEnv(keyring.env);

  beforeAll(async () => {
    keyring = await KeyringSession.start();
  });
  afterAll(async () => {
    await keyring?.stop();
  });

  it('set writes the item openpgp-card-state reads (service openpgp-card, username = ident) and records the card', async () => {
    expect(await storeOp(env(), 'set', '0006:1234abcd', '123456')).toEqual({ ok: true, value: true });
    // keyring-rs's Secret Service item: attributes service and username, nothing else to match on.
    expect(await keyring.search()).toEqual({ secrets: ['123456'], attributes: ['attribute.service = openpgp-card', 'attribute.username = 0006:1234ABCD'] });
    expect(await keyring.lookup('0006:1234ABCD')).toBe('123456');
    const config = await readFile(join(keyring.env['XDG_CONFIG_HOME']!, 'openpgp-card-state', 'config.toml'), 'utf8');
    expect(config).toContain('ident = "0006:1234ABCD"');
    expect(config).toContain('pin_storage = "Keyring"');
  });

  it('get reads it back, delete removes it, and a second delete finds nothing', async () => {
    expect(await storeOp(env(), 'get', '0006:1234ABCD')).toEqual({ ok: true, value: '123456' });
    expect(await storeOp(env(), 'location', '0006:1234ABCD')).toEqual({ ok: true, value: 'keychain' });
    expect(await storeOp(env(), 'delete', '0006:1234ABCD')).toEqual({ ok: true, value: true });
    expect(await keyring.search()).toEqual({ secrets: [], attributes: [] });
    expect(await storeOp(env(), 'delete', '0006:1234ABCD')).toEqual({ ok: true, value: false });
    expect(await storeOp(env(), 'get', '0006:1234ABCD')).toEqual({ ok: true, value: null });
  });

  it('an entry written the way openpgp-card-state writes it (secret-tool, same attributes) is read', async () => {
    await keyring.store(ident, '424242');
    expect(await storeOp(env(), 'get', ident)).toEqual({ ok: true, value: '424242' });
    expect(await storeOp(env(), 'delete', ident)).toEqual({ ok: true, value: true });
    expect(await keyring.lookup(ident)).toBeUndefined();
  });

  it('with no bus at all, every operation is a KeychainError saying what is missing, and nothing crashes', async () => {
    for (const busEnv of [cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: undefined }), cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/oca-bus' })]) {
      for (const [op, pin] of [['get'], ['set', '123456'], ['delete']] as const) {
        const r = await storeOp(busEnv, op, ident, pin);
        expect(r).toMatchObject({ ok: false, name: 'KeychainError', code: 'E_KEYCHAIN' });
        expect(!r.ok && r.message).toMatch(/D-Bus session .*Secret Service/);
        expect(!r.ok && r.message).not.toContain('123456');
      }
    }
  });

  it('a bus without a Secret Service is a KeychainError too', async () => {
    const bare = await runProgram(DBUS_DAEMON, ['--session', '--fork', '--print-address=1', '--print-pid=1'], { env: env() });
    const [address, pid] = bare.stdout.trim().split('\n');
    try {
      const r = await storeOp(cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: address, OCA_KEYCHAIN_TIMEOUT_MS: '3000' }), 'get', ident);
      expect(r).toMatchObject({ ok: false, name: 'KeychainError' });
    } finally {
      if (pid !== undefined) process.kill(Number(pid), 'SIGTERM');
    }
  });
});
