import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, cleanEnv, runProgram } from './harness/agent-process.js';
import { DBUS_DAEMON, GDBUS, GNOME_KEYRING, KeyringSession, SECRET_TOOL } from './harness/keyring.js';
import { describeWithTools } from './harness/sshd.js';

/**
 * KeyringPinStore against a real gnome-keyring in a private D-Bus session (never the user's), and
 * the real kernel keyring: the interop matrix with openpgp-card-state. Entries are written and
 * checked with independent tools: secret-tool (libsecret), gdbus (GLib) and keyctl (keyutils).
 * Each store operation runs in a child (harness/keyring-store-child.ts under vite-node) given
 * the session's environment; the test runner's own environment is never changed.
 */
const VITE_NODE = join(REPO_ROOT, 'node_modules', '.bin', 'vite-node');
const CHILD = join(REPO_ROOT, 'test', 'system', 'harness', 'keyring-store-child.ts');
const KEYCTL = '/usr/bin/keyctl';

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; code?: string; message: string };

async function storeOp(env: NodeJS.ProcessEnv, op: string, ident: string, pin?: string): Promise<Outcome> {
  const r = await runProgram(VITE_NODE, [CHILD, '--', op, ident], { env, ...(pin === undefined ? {} : { input: pin }), timeoutMs: 60_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`child failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as Outcome;
}

const CARD_STATE_ATTRS = (ident: string) => ({ application: 'rust-keyring', service: 'openpgp-card', target: 'default', username: ident });

describeWithTools('PIN stores on gnome-keyring and the kernel keyring, as openpgp-card-state uses them', [DBUS_DAEMON, GNOME_KEYRING, SECRET_TOOL, GDBUS, KEYCTL], () => {
  let keyring: KeyringSession;
  // Fresh idents per run: the kernel user keyring outlives the test.
  const serial = randomBytes(3).toString('hex').toUpperCase();
  const ident = (n: number): string => `0006:${n}${serial}`.slice(0, 13).padEnd(13, '0');
  const env = (): NodeJS.ProcessEnv => cleanEnv(keyring.env);
  const configPath = (): string => join(keyring.env['XDG_CONFIG_HOME']!, 'openpgp-card-state', 'config.toml');
  const writeConfig = async (text: string): Promise<void> => {
    await mkdir(join(keyring.env['XDG_CONFIG_HOME']!, 'openpgp-card-state'), { recursive: true });
    await writeFile(configPath(), text, { mode: 0o600 });
  };
  const keyctl = (args: string[], input?: string) => runProgram(KEYCTL, args, { env: env(), ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    keyring = await KeyringSession.start();
  });
  afterAll(async () => {
    await keyring?.stop();
  });

  it('ours: one item with keyring-rs 3\'s attributes and label, found by secret-tool lookup ... target default; the card is recorded', async () => {
    const id = ident(1);
    expect(await storeOp(env(), 'set', id.toLowerCase(), '123456')).toEqual({ ok: true, value: 'keychain' });
    expect(await keyring.items(id)).toMatchObject([{ label: `${id}@openpgp-card:default`, secret: '123456', attributes: CARD_STATE_ATTRS(id) }]);
    expect(await keyring.lookup(id)).toBe('123456');
    const config = await readFile(configPath(), 'utf8');
    expect(config).toContain(`ident = "${id}"`);
    expect(config).toContain('pin_storage = "Keyring"');
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '123456' });
    expect(await storeOp(env(), 'location', id)).toEqual({ ok: true, value: 'keychain' });
    expect(await storeOp(env(), 'delete', id)).toEqual({ ok: true, value: true });
    expect(await keyring.items(id)).toEqual([]);
    expect(await storeOp(env(), 'delete', id)).toEqual({ ok: true, value: false });
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: null });
  });

  it('openpgp-card-state\'s entry is read; storing again updates that same item', async () => {
    const id = ident(2);
    await keyring.store(id, '424242');
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '424242' });
    expect(await storeOp(env(), 'set', id, '135791')).toMatchObject({ ok: true });
    const items = await keyring.items(id);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ secret: '135791', attributes: CARD_STATE_ATTRS(id) });
    expect(await keyring.lookup(id)).toBe('135791');
  });

  it('an entry of an earlier version of this agent (service + username only) is read, and replaced by one openpgp-card-state finds', async () => {
    const id = ident(3);
    await keyring.storeLegacy(id, '777777');
    expect(await keyring.lookup(id)).toBeUndefined();
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '777777' });
    expect(await storeOp(env(), 'set', id, '888888')).toMatchObject({ ok: true });
    expect(await keyring.items(id)).toMatchObject([{ label: `${id}@openpgp-card:default`, secret: '888888', attributes: CARD_STATE_ATTRS(id) }]);
    expect(await keyring.lookup(id)).toBe('888888');
  });

  it('both at once (ours from before, then openpgp-card-state\'s): nothing fails, the one openpgp-card-state reads wins, store leaves one', async () => {
    const id = ident(4);
    await keyring.storeLegacy(id, '111111');
    await keyring.store(id, '222222');
    expect((await keyring.items(id)).map((i) => i.secret).sort()).toEqual(['111111', '222222']);
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '222222' });
    expect(await storeOp(env(), 'location', id)).toEqual({ ok: true, value: 'keychain' });
    expect(await storeOp(env(), 'set', id, '333333')).toMatchObject({ ok: true });
    expect(await keyring.items(id)).toMatchObject([{ label: `${id}@openpgp-card:default`, secret: '333333', attributes: CARD_STATE_ATTRS(id) }]);
  });

  it('two targeted entries (ambiguous for keyring-rs): the newest is read, delete removes both', async () => {
    const id = ident(5);
    await keyring.store(id, '121212');
    // gnome-keyring keeps a second item when its attributes differ: an extra one makes it so.
    const r = await runProgram(SECRET_TOOL, ['store', '--label=second', 'service', 'openpgp-card', 'username', id, 'target', 'default', 'application', 'rust-keyring', 'extra', 'x'], {
      env: env(),
      input: '343434',
    });
    expect(r.code).toBe(0);
    expect(await keyring.items(id)).toHaveLength(2);
    // Modified times have one-second resolution: make the second one newer for sure.
    await runProgram(SECRET_TOOL, ['store', '--label=second', 'service', 'openpgp-card', 'username', id, 'target', 'default', 'application', 'rust-keyring', 'extra', 'x'], {
      env: env(),
      input: '343434',
    });
    // The newest by the service's Modified time (whole seconds: both, when they tie).
    const items = await keyring.items(id);
    const newest = Math.max(...items.map((i) => i.modified));
    const expected = items.filter((i) => i.modified === newest).map((i) => i.secret);
    const read = await storeOp(env(), 'get', id);
    expect(read.ok).toBe(true);
    expect(expected).toContain((read as { value: string }).value);
    expect(await storeOp(env(), 'delete', id)).toEqual({ ok: true, value: true });
    expect(await keyring.items(id)).toEqual([]);
  });

  it('Direct config entries: read from the newtype table, written there, dropped there; the keychain is not asked', async () => {
    const id = ident(6);
    await keyring.store(id, 'keychain-copy');
    await writeConfig(`[[cards]]\nident = "${id}"\nnickname = "direct card"\n[cards.pin_storage]\nDirect = "246810"\n`);
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '246810' });
    expect(await storeOp(env(), 'location', id)).toEqual({ ok: true, value: 'config' });
    expect(await storeOp(env(), 'set', id, '975310')).toEqual({ ok: true, value: 'config' });
    expect(await readFile(configPath(), 'utf8')).toContain('[cards.pin_storage]\nDirect = "975310"');
    expect(await storeOp(env(), 'delete', id)).toEqual({ ok: true, value: true });
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: null });
    expect(await keyring.items(id)).toHaveLength(1);
  });

  it('Ephemeral config entries: a PIN keyctl put in the user keyring is read until the kernel expires it; ours goes there with pin_expiry', async () => {
    const id = ident(7);
    const description = `keyring-rs:${id}@openpgp-card`;
    await writeConfig(`pin_expiry = 30\n[[cards]]\nident = "${id}"\npin_storage = "Ephemeral"\n`);
    const added = await keyctl(['padd', 'user', description, '@u'], '565656');
    expect(added.code).toBe(0);
    const keyId = added.stdout.trim();
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: '565656' });
    expect(await storeOp(env(), 'location', id)).toEqual({ ok: true, value: 'kernel-keyring' });
    expect((await keyctl(['timeout', keyId, '1'])).code).toBe(0);
    // Wait for the kernel to expire it (an event: the key stops being found), then look.
    for (let i = 0; i < 100 && (await keyctl(['search', '@u', 'user', description])).code === 0; i++) await sleep(50);
    expect(await storeOp(env(), 'get', id)).toEqual({ ok: true, value: null });
    expect(await storeOp(env(), 'set', id, '676767')).toEqual({ ok: true, value: 'kernel-keyring' });
    const found = await keyctl(['search', '@u', 'user', description]);
    expect(found.code).toBe(0);
    expect((await keyctl(['pipe', found.stdout.trim()])).stdout).toBe('676767');
    // pin_expiry (30 s) as the key's timeout: /proc/keys shows the time left.
    const proc = await readFile('/proc/keys', 'utf8');
    const line = proc.split('\n').find((l) => l.includes(description));
    expect(line).toMatch(/\s(2\d|30)s\s/);
    expect(await storeOp(env(), 'delete', id)).toEqual({ ok: true, value: true });
    expect((await keyctl(['search', '@u', 'user', description])).code).not.toBe(0);
    expect(await keyring.items(id)).toEqual([]);
  });

  it('with no bus at all, every keychain operation is a KeychainError saying what is missing, and nothing crashes', async () => {
    const id = ident(8);
    for (const busEnv of [cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: undefined }), cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/oca-bus' })]) {
      for (const [op, pin] of [['get'], ['set', '123456'], ['delete']] as const) {
        const r = await storeOp(busEnv, op, id, pin);
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
      const r = await storeOp(cleanEnv({ ...keyring.env, DBUS_SESSION_BUS_ADDRESS: address, OCA_KEYCHAIN_TIMEOUT_MS: '3000' }), 'get', ident(9));
      expect(r).toMatchObject({ ok: false, name: 'KeychainError' });
      expect(!r.ok && r.message).toMatch(/ServiceUnknown|org\.freedesktop\.secrets|no answer within 3000 ms/);
    } finally {
      if (pid !== undefined) process.kill(Number(pid), 'SIGTERM');
    }
  });
});
