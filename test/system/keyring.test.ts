import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { DBUS_DAEMON, GNOME_KEYRING, KeyringSession, SECRET_TOOL } from './harness/keyring.js';
import { SSH, SSHD, SSH_ADD, Sshd, describeWithTools, sshLogin } from './harness/sshd.js';

/** Resolves when the daemon's stderr shows `text` (listening to the stream: no sleeping). */
function logged(agent: AgentProcess, text: string, timeoutMs = 30_000): Promise<void> {
  if (agent.stderr.includes(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      if (!agent.stderr.includes(text)) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`the agent did not log "${text}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      agent.child.stderr?.off('data', onData);
    };
    // AgentProcess appends each chunk before this listener runs (it was added first).
    agent.child.stderr?.on('data', onData);
  });
}

/**
 * PINs in the OS keychain, over the real stack: gnome-keyring in a private D-Bus session, the
 * agent as a child process with a virtual card whose PIN it is NOT given (--no-simulate-pin), so
 * every PIN comes from ssh-add -s or the keychain, as with a real card.
 */
describeWithTools('PINs in the OS keychain (gnome-keyring), ssh-add -s/-e/-t, never blocking the card', [DBUS_DAEMON, GNOME_KEYRING, SECRET_TOOL, SSHD, SSH, SSH_ADD], () => {
  let keyring: KeyringSession;
  let sshd: Sshd;
  let dir: string;
  let agent: AgentProcess;
  let ident: string;
  const stderrs: string[] = [];

  const socket = (): string => join(dir, 'agent.sock');
  const cardState = async (): Promise<{ retries: { pw1: number } }> => JSON.parse(await readFile(join(dir, 'card.json'), 'utf8'));

  async function startAgent(): Promise<void> {
    agent = await AgentProcess.start({
      socketPath: socket(),
      args: ['--simulate', '--no-simulate-pin', '--no-notify', '--simulate-state', join(dir, 'card.json'), '-a', socket()],
      env: { ...keyring.env, DEBUG: 'trace' },
    });
  }

  async function stopAgent(): Promise<void> {
    await agent.stop();
    stderrs.push(agent.stderr);
  }

  async function askpass(pin: string): Promise<Record<string, string>> {
    const path = join(dir, `askpass-${pin}`);
    await writeFile(path, `#!/bin/sh\nprintf '%s\\n' '${pin}'\n`);
    await chmod(path, 0o700);
    return { SSH_ASKPASS: path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
  }

  const sshAdd = async (args: string[], pin?: string) =>
    runProgram(SSH_ADD, args, { env: cleanEnv({ SSH_AUTH_SOCK: socket(), ...(pin === undefined ? {} : await askpass(pin)) }) });
  const login = () => sshLogin({ port: sshd.port, agentSocket: socket(), command: 'echo ok' });

  beforeAll(async () => {
    keyring = await KeyringSession.start();
    sshd = await Sshd.start();
    dir = await makeTempDir();
    await startAgent();
    const list = await sshAdd(['-L']);
    const line = list.stdout.trim();
    ident = line.split(' ')[2]!;
    await sshd.authorize(line);
  });

  afterAll(async () => {
    await sshd?.stop();
    await cleanupSystem();
    await keyring?.stop();
  });

  it('with no PIN stored, ssh fails, the log gives the ssh-add -s command, and the card loses no try', async () => {
    const r = await login();
    expect(r.code).not.toBe(0);
    expect(agent.stderr).toContain(`ssh-add -s ${ident}`);
    expect((await cardState()).retries.pw1).toBe(3);
  });

  it('ssh-add -s with a wrong PIN fails, costs one try, and stores nothing', async () => {
    const r = await sshAdd(['-s', ident], '000000');
    expect(r.code).not.toBe(0);
    expect((await cardState()).retries.pw1).toBe(2);
    expect(await keyring.lookup(ident)).toBeUndefined();
    expect(agent.stderr).toMatch(/2 tries left/);
  });

  it('ssh-add -s with the right PIN stores it in the keychain and records the card for openpgp-card-state', async () => {
    const r = await sshAdd(['-s', ident], '123456');
    expect(r.stderr).toContain('Card added');
    expect(r.code).toBe(0);
    expect(await keyring.lookup(ident)).toBe('123456');
    expect((await cardState()).retries.pw1).toBe(3);
    const config = await readFile(join(keyring.env.XDG_CONFIG_HOME!, 'openpgp-card-state', 'config.toml'), 'utf8');
    expect(config).toContain(`ident = "${ident}"`);
    expect(config).toContain('pin_storage = "Keyring"');
  });

  it('status shows the card, its key, the stored PIN and the retries, while the agent runs', async () => {
    const r = await runCli(['status', '--json', '--simulate', '--simulate-state', join(dir, 'card.json')], { env: cleanEnv(keyring.env) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [card] = (JSON.parse(r.stdout) as { cards: Array<Record<string, unknown>> }).cards;
    expect(card).toMatchObject({ ident, algorithm: 'EdDSA ed25519', usable: true, pin: { location: 'keychain', knownBad: false }, pinRetries: 3, blocked: false, touch: 'off' });
    expect(card!['fingerprint']).toMatch(/^SHA256:/);
  });

  it('ssh then signs with no prompt, also after an agent restart', async () => {
    expect((await login()).stdout).toBe('ok\n');
    await stopAgent();
    await startAgent();
    const r = await login();
    expect(r.stdout).toBe('ok\n');
    expect(r.code).toBe(0);
  });

  it('ssh-add -e forgets the PIN: gone from the keychain, and the card wants it again', async () => {
    const r = await sshAdd(['-e', ident]);
    expect(r.code).toBe(0);
    expect(await keyring.lookup(ident)).toBeUndefined();
    expect((await login()).code).not.toBe(0);
  });

  it('an entry written the way openpgp-card-state writes it is used', async () => {
    await keyring.store(ident, '123456');
    await stopAgent();
    await startAgent();
    expect((await login()).stdout).toBe('ok\n');
  });

  it('a wrong stored PIN costs exactly one try, never again over twenty signing attempts and a restart', async () => {
    await keyring.store(ident, '999999');
    await stopAgent();
    await startAgent();
    const before = (await cardState()).retries.pw1;
    expect(before).toBe(3);
    for (let i = 0; i < 10; i++) expect((await login()).code).not.toBe(0);
    expect((await cardState()).retries.pw1).toBe(2);
    expect(await keyring.lookup(ident)).toBeUndefined();
    await stopAgent();
    await startAgent();
    for (let i = 0; i < 10; i++) expect((await login()).code).not.toBe(0);
    expect((await cardState()).retries.pw1).toBe(2);
  });

  it('ssh-add -s -t keeps the PIN in memory for that long, never in the keychain', async () => {
    const r = await sshAdd(['-s', ident, '-t', '2'], '123456');
    expect(r.code).toBe(0);
    expect(await keyring.lookup(ident)).toBeUndefined();
    expect((await login()).stdout).toBe('ok\n');
    // When the lifetime ends the agent drops the PIN and has the card forget its verification:
    // wait for it to say so (the event), not for a guessed time.
    await logged(agent, 'PIN lifetime (ssh-add -t) ended');
    expect((await login()).code).not.toBe(0);
    expect((await cardState()).retries.pw1).toBe(3);
  });

  it('the trace-level log of the whole run contains no PIN', async () => {
    await stopAgent();
    const all = stderrs.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).toContain('"level":10'); // trace lines are there
    // VERIFY went by at trace level, with its data blanked.
    expect(all).toMatch(/"apdu":"0020008206ffffffffffff"/);
    for (const pin of ['123456', '999999', '000000']) {
      // As text on its own (random hex and base64 in the log may contain the digits by chance).
      const m = new RegExp(`(?<![0-9A-Za-z+/])${pin}(?![0-9A-Za-z+/])`).exec(all);
      expect(m === null ? '' : all.slice(Math.max(0, m.index - 200), m.index + 40)).toBe('');
      expect(all).not.toContain(Buffer.from(pin).toString('hex'));
    }
    await startAgent();
  });
});
