import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { PYTHON3, pcscHolder, pcscPeer } from './harness/pcsc-peer.js';
import { SSH, SSHD, SSH_ADD, Sshd, sshLogin } from './harness/sshd.js';

/** Waits until `check` is true (polling), or fails with `what`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeWithSandbox('real cards over pcscd + vpcd: hot-plug, resets, pcscd restarts, exclusive holders', [SSHD, SSH, SSH_ADD, PYTHON3], () => {
  let sandbox: PcscSandbox;
  let sshd: Sshd;
  let agent: AgentProcess;
  let dir: string;
  const keys: string[] = [];

  const env = (): NodeJS.ProcessEnv => cleanEnv({ SSH_AUTH_SOCK: agent.socketPath });
  const listKeys = async (): Promise<string[]> => {
    const r = await runProgram(SSH_ADD, ['-L'], { env: env() });
    return r.code === 0 ? r.stdout.trim().split('\n') : [];
  };
  const login = () => sshLogin({ port: sshd.port, agentSocket: agent.socketPath, command: 'echo ok' });
  async function addPin(ident: string): Promise<void> {
    const askpass = join(dir, 'askpass');
    await writeFile(askpass, "#!/bin/sh\necho 123456\n");
    await chmod(askpass, 0o700);
    // -t: in memory only (no keychain in this test).
    const r = await runProgram(SSH_ADD, ['-t', '3600', '-s', ident], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }) });
    expect(r.stderr).toContain('Card added');
  }
  async function startAgent(): Promise<void> {
    agent = await AgentProcess.start({ socketPath: join(dir, 'agent.sock'), args: ['--no-notify', '-a', join(dir, 'agent.sock')], env: sandbox.env() });
  }

  beforeAll(async () => {
    dir = await makeTempDir();
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'card-a', '--algo', 'ed25519');
    sshd = await Sshd.start();
    await startAgent();
  });

  afterAll(async () => {
    await sshd?.stop();
    await sandbox?.stop(); // before cleanupSystem(), which removes the sandbox's directory
    await cleanupSystem();
  });

  it('lists the plugged card with its ident, and logs in with it after ssh-add -s', async () => {
    await eventually('the card is listed', async () => (await listKeys()).length === 1);
    const [line] = await listKeys();
    expect(line).toMatch(/^ssh-ed25519 \S+ FF00:[0-9A-F]{8}$/);
    keys.push(line!);
    await sshd.authorize(...keys);
    await addPin(line!.split(' ')[2]!);
    const r = await login();
    expect(r.stdout).toBe('ok\n');
  });

  it('a card plugged in while the agent runs is listed, and logs in too', async () => {
    await sandbox.card(1, 'card-b', '--algo', 'p256');
    await eventually('two cards are listed', async () => (await listKeys()).length === 2);
    const second = (await listKeys()).find((l) => l.startsWith('ecdsa-sha2-nistp256'))!;
    keys.push(second);
    await addPin(second.split(' ')[2]!);
    // Only the second card's key is authorized now: the login must go through it.
    await sshd.authorize(second);
    expect((await login()).stdout).toBe('ok\n');
    await sshd.authorize(...keys);
  });

  it('a card pulled out disappears; the other keeps working', async () => {
    await sandbox.uncard(1);
    await eventually('one card is left', async () => (await listKeys()).length === 1);
    expect(await listKeys()).toEqual([keys[0]]);
    expect((await login()).stdout).toBe('ok\n');
    expect(agent.stderr).toContain('card removed');
  });

  it('a reset by another application: the agent reconnects, selects and verifies again', async () => {
    await pcscPeer(sandbox, 'reset', '00 00');
    expect((await login()).stdout).toBe('ok\n');
    expect(agent.stderr).toContain('was reset by another application');
  });

  it('pcscd killed and restarted: the card comes back and signs, with no agent restart', async () => {
    await sandbox.restartPcscd();
    await eventually('the card is listed again', async () => (await listKeys()).length === 1, 30_000);
    await eventually('a login works again', async () => (await login()).code === 0, 30_000);
    expect(agent.status).toBeUndefined();
  });

  it('twenty concurrent ssh logins all succeed', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => login()));
    expect(results.filter((r) => r.stdout !== 'ok\n').map((r) => r.stderr)).toEqual([]);
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, () => 'ok\n'));
  });

  it('a card held exclusively by another program: the agent says why, and takes the card once it is free', async () => {
    await agent.stop();
    const holder = await pcscHolder(sandbox, 'hold-exclusive', '00 00');
    try {
      await startAgent();
      await eventually('the agent names the cause', async () => agent.stderr.includes('pcsc-shared'));
      expect(await listKeys()).toEqual([]);
    } finally {
      await holder.release();
    }
    await eventually('the card is taken once free', async () => (await listKeys()).length === 1);
  });

  it('a card that wants a touch: the user is told to touch it, and the signature is made once touched', async () => {
    await sandbox.card(1, 'card-touch', '--algo', 'ed25519', '--touch', '--auto-touch-ms', '1500');
    await eventually('two cards are listed', async () => (await listKeys()).length === 2);
    const line = (await listKeys()).find((l) => l !== keys[0])!;
    await addPin(line.split(' ')[2]!);
    await sshd.authorize(line);
    const r = await login();
    expect(r.stdout).toBe('ok\n');
    expect(agent.stderr).toContain(`Touch your card ${line.split(' ')[2]!}`);
  });

  it('status reads every card over PC/SC beside the running agent, without spending a PIN try', async () => {
    const r = await runCli(['status', '--json', '--no-agent'], { env: cleanEnv(sandbox.env()) });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { source: string; cards: Array<Record<string, unknown>> };
    expect(out.source).toBe('cards');
    const cards = out.cards;
    expect(cards.map((c) => c['reader']).sort()).toEqual(['OCA Virtual Reader 00 00', 'OCA Virtual Reader 00 01']);
    for (const c of cards) {
      expect(c).toMatchObject({ usable: true, pinRetries: 3 });
      expect(c['fingerprint']).toMatch(/^SHA256:/);
    }
    expect(cards.find((c) => c['reader'] === 'OCA Virtual Reader 00 01')?.['touch']).toBe('on');
  });

  it('status asks the running agent: its PINs in memory, whether each card is verified now, the signature counter, bound sessions', async () => {
    const r = await runCli(['status', '--json'], { env: cleanEnv({ ...sandbox.env(), SSH_AUTH_SOCK: agent.socketPath }) });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { source: string; agent: { pid: number }; cards: Array<Record<string, unknown>>; sessions: unknown[] };
    expect(out.source).toBe('agent');
    expect(out.agent.pid).toBe(agent.pid);
    expect(out.cards).toHaveLength(2);
    // The agent was restarted above: only the card given its PIN since (ssh-add -s -t) has one in memory.
    expect(out.cards.filter((c) => (c['pin'] as { location: string }).location === 'memory')).toHaveLength(1);
    for (const c of out.cards) {
      expect(c).toMatchObject({ usable: true, pinRetries: 3, blocked: false, pin: { knownBad: false } });
      expect(c['signatureCounter']).toEqual(expect.any(Number));
      expect(['verified', 'not-verified', 'unknown']).toContain(c['verified']);
    }
    const text = await runCli(['status'], { env: cleanEnv({ ...sandbox.env(), SSH_AUTH_SOCK: agent.socketPath }) });
    expect(text.stdout).toContain(`pid ${agent.pid}`);
    expect(text.stdout).toMatch(/PIN: {10}in memory for \d+ s more \(ssh-add -t\)/);
  });
});
