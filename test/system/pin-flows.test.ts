import { chmod, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { AgentProcess, REPO_ROOT, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { SSH, SSHD, SSH_ADD, Sshd, describeWithTools, sshLogin } from './harness/sshd.js';

/**
 * The PIN flows of issue #9 over the real stack: the daemon with a virtual card whose PIN it is
 * not given (--simulate --no-simulate-pin), real ssh logins into a loopback sshd, a scripted
 * SSH_ASKPASS and a scripted pinentry (Assuan) as the user, and no keychain (no D-Bus session):
 * the prompt when no PIN is stored (cancel, and two logins waiting on one prompt), ssh-add
 * -s/-e/-D/-d/-c without a keychain, a short PIN that never reaches the card, a blocked card.
 */
describeWithTools('PIN prompts and ssh-add verbs without a keychain', [SSHD, SSH, SSH_ADD], () => {
  let sshd: Sshd;
  let dir: string;
  let agent: AgentProcess | undefined;
  let ident = '';
  const socket = (): string => join(dir, 'agent.sock');
  const state = (): string => join(dir, 'card.json');
  const cardState = async (): Promise<{ retries: { pw1: number } }> => JSON.parse(await readFile(state(), 'utf8'));
  /** Each question the askpass script was asked (the text may span lines). */
  const calls = async (file: string): Promise<string[]> => (existsSync(file) ? (await readFile(file, 'utf8')).split('\u0001').slice(1) : []);

  /** An SSH_ASKPASS that logs each question, waits for `gate` (when given) and answers `pin` (exit 1 = cancel). */
  async function askpassScript(name: string, answer: string | 'cancel', gate?: string): Promise<{ path: string; log: string }> {
    const path = join(dir, `askpass-${name}`);
    const log = join(dir, `askpass-${name}.log`);
    const wait = gate === undefined ? '' : `while [ ! -e '${gate}' ]; do sleep 0.05; done\n`;
    const reply = answer === 'cancel' ? 'exit 1\n' : `case "$SSH_ASKPASS_PROMPT" in confirm) exit 1 ;; esac\nprintf '%s\\n' '${answer}'\n`;
    await writeFile(path, `#!/bin/sh\nprintf '\\001%s|%s' "$SSH_ASKPASS_PROMPT" "$1" >> '${log}'\n${wait}${reply}`);
    await chmod(path, 0o700);
    return { path, log };
  }

  async function startAgent(env: Record<string, string | undefined>, extra: string[] = []): Promise<AgentProcess> {
    agent = await AgentProcess.start({
      socketPath: socket(),
      args: ['--simulate', '--no-simulate-pin', '--no-notify', '--simulate-state', state(), '-a', socket(), ...extra],
      // No D-Bus session: there is no keychain on this "headless box".
      env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/oca-no-bus', DISPLAY: undefined, WAYLAND_DISPLAY: undefined, ...env },
    });
    return agent;
  }

  const login = () => sshLogin({ port: sshd.port, agentSocket: socket(), command: 'echo ok' });
  const sshAdd = (args: string[], env: Record<string, string> = {}) => runProgram(SSH_ADD, args, { env: cleanEnv({ SSH_AUTH_SOCK: socket(), ...env }) });

  beforeAll(async () => {
    sshd = await Sshd.start();
    dir = await makeTempDir();
    // First start creates the card; its key goes into authorized_keys.
    const a = await startAgent({});
    const line = (await sshAdd(['-L'])).stdout.trim();
    ident = line.split(' ')[2]!;
    await sshd.authorize(line);
    await a.stop();
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  afterAll(async () => {
    await sshd?.stop();
    await cleanupSystem();
  });

  it('no PIN stored: the first login asks through SSH_ASKPASS (naming the card and the tries), the card checks it, later logins ask nothing', async () => {
    const ask = await askpassScript('ok', '123456');
    await startAgent({ SSH_ASKPASS: ask.path, SSH_ASKPASS_REQUIRE: 'force' }, ['--store-pins', 'never']);
    expect((await login()).stdout).toBe('ok\n');
    expect((await login()).stdout).toBe('ok\n');
    const asked = await calls(ask.log);
    expect(asked, asked.join('\n')).toHaveLength(1);
    expect(asked[0]).toContain(ident);
    expect(asked[0]).toMatch(/3 tries left/);
    expect((await cardState()).retries.pw1).toBe(3);
    // status (from the agent) shows where the PIN is.
    const st = await runCli(['status'], { env: cleanEnv({ SSH_AUTH_SOCK: socket() }) });
    expect(st.stdout).toContain('PIN:          in memory until the agent stops');
  });

  it('a cancelled prompt fails the login and leaves the card alone', async () => {
    const ask = await askpassScript('cancel', 'cancel');
    const a = await startAgent({ SSH_ASKPASS: ask.path, SSH_ASKPASS_REQUIRE: 'force' });
    expect((await login()).code).not.toBe(0);
    expect(a.stderr).toContain('was cancelled; the card was not touched');
    expect((await cardState()).retries.pw1).toBe(3);
  });

  it('two logins at once wait on one prompt; the PIN goes to the card once', async () => {
    const gate = join(dir, 'gate');
    const ask = await askpassScript('gated', '123456', gate);
    const a = await startAgent({ SSH_ASKPASS: ask.path, SSH_ASKPASS_REQUIRE: 'force', DEBUG: 'info,card=trace' }, ['--store-pins', 'never']);
    const both = Promise.all([login(), login()]);
    for (let i = 0; i < 400 && (await calls(ask.log)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await writeFile(gate, '');
    const [x, y] = await both;
    expect([x.stdout, y.stdout]).toEqual(['ok\n', 'ok\n']);
    expect(await calls(ask.log)).toHaveLength(1);
    expect(a.stderr.match(/"apdu":"00200082/g)).toHaveLength(1);
  });

  it('through a pinentry (Assuan, --pinentry): the card and the tries are named, the PIN is checked on the card', async () => {
    const pinentry = join(dir, 'pinentry');
    const log = join(dir, 'pinentry.log');
    await writeFile(pinentry, `#!/bin/sh\nexec '${process.execPath}' '${join(REPO_ROOT, 'test/notify/fixtures/scripted-pinentry.mjs')}'\n`);
    await chmod(pinentry, 0o700);
    await startAgent({ FAKE_PINENTRY_PINS: '123456', FAKE_PINENTRY_LOG: log, FAKE_PINENTRY_CONFIRM: 'no' }, ['--pinentry', pinentry]);
    expect((await login()).stdout).toBe('ok\n');
    const lines = (await readFile(log, 'utf8')).split('\n');
    expect(lines.some((l) => l.startsWith('SETDESC') && l.includes(ident))).toBe(true);
    expect(lines.filter((l) => l === 'GETPIN')).toHaveLength(1);
  });

  it('no keychain: ssh-add -s keeps the PIN in memory for the agent life and says so; -D, -e and -c behave', async () => {
    const a = await startAgent({});
    const ask = await askpassScript('sshadd', '123456');
    const env = { SSH_ASKPASS: ask.path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    const add = await sshAdd(['-s', ident], env);
    expect(add.stderr).toContain('Card added');
    expect(a.stderr).toContain('PIN kept in memory until the agent stops: the keychain is unavailable');
    expect((await login()).stdout).toBe('ok\n');
    // -D succeeds: every card locked, PINs in memory forgotten (the keychain would keep its copies).
    expect((await sshAdd(['-D'])).code).toBe(0);
    expect((await login()).code).not.toBe(0);
    expect((await sshAdd(['-L'])).stdout).toContain(ident);
    // -e: the card is reset and the memory copy forgotten first; then the keychain, which cannot
    // be reached here, so -e reports that (a copy there could not be deleted) and fails.
    expect((await sshAdd(['-s', ident], env)).code).toBe(0);
    expect((await sshAdd(['-e', ident])).code).not.toBe(0);
    expect(a.stderr).toContain('the stored copy could not be deleted');
    expect((await login()).code).not.toBe(0);
    // -c with no way to ask (no SSH_ASKPASS for the agent): refused when added, the PIN never sent.
    const before = (await cardState()).retries.pw1;
    const c = await sshAdd(['-c', '-s', ident], env);
    expect(c.code).not.toBe(0);
    expect(a.stderr).toContain('there is no way to ask the user');
    expect((await cardState()).retries.pw1).toBe(before);
  });

  it('ssh-add -d of the card key locks the card; the key stays listed', async () => {
    const a = await startAgent({});
    const ask = await askpassScript('d', '123456');
    const env = { SSH_ASKPASS: ask.path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    expect((await sshAdd(['-s', ident], env)).code).toBe(0);
    expect((await login()).stdout).toBe('ok\n');
    const pub = join(dir, 'card.pub');
    await writeFile(pub, `${(await sshAdd(['-L'])).stdout.trim()}\n`);
    const d = await sshAdd(['-d', pub]);
    expect(d.stderr).toContain('Identity removed');
    expect(a.stderr).toContain('card locked (ssh-add -d)');
    expect((await sshAdd(['-L'])).stdout).toContain(ident);
    // The PIN is still in the agent's memory: the next login verifies again and works.
    expect((await login()).stdout).toBe('ok\n');
  });

  it('a PIN shorter than 6 digits is refused before it reaches the card; a blocked card says "blocked"', async () => {
    const a = await startAgent({});
    const short = await askpassScript('short', '12');
    expect((await sshAdd(['-s', ident], { SSH_ASKPASS: short.path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' })).code).not.toBe(0);
    expect(a.stderr).toContain('has at least 6 characters');
    expect((await cardState()).retries.pw1).toBe(3);
    await a.stop();
    const card = JSON.parse(await readFile(state(), 'utf8')) as { retries: { pw1: number } };
    card.retries.pw1 = 0;
    await writeFile(state(), JSON.stringify(card));
    const b = await startAgent({});
    const right = await askpassScript('blocked', '123456');
    expect((await sshAdd(['-s', ident], { SSH_ASKPASS: right.path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' })).code).not.toBe(0);
    expect(b.stderr).toMatch(/blocked\. Unblock it with the Reset Code/);
    expect(b.stderr).not.toMatch(/blocked[^\n]*run {1,2}ssh-add -s/);
    const st = await runCli(['status'], { env: cleanEnv({ SSH_AUTH_SOCK: socket() }) });
    expect(st.stdout).toContain('PIN retries:  0, BLOCKED');
    card.retries.pw1 = 3;
    await b.stop();
    await writeFile(state(), JSON.stringify(card));
  });
});
