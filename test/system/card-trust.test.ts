import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AgentClient } from '../../src/gpg/agent-client.js';
import { GnupgHome } from '../../src/bench/gnupg-home.js';
import type { Response } from '../../src/protocol/messages.js';
import { Secret } from '../../src/secret.js';
import { verifySshSignature } from '../../src/ssh/verify.js';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runCli, runProgram } from './harness/agent-process.js';
import { PYTHON3, pcscHolder, pcscPeer } from './harness/pcsc-peer.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { SSH_ADD } from './harness/sshd.js';

const GPG = '/usr/bin/gpg';
const SCDAEMON = '/usr/lib/gnupg/scdaemon';
const GPG_CONNECT_AGENT = '/usr/bin/gpg-connect-agent';
const DATA = new TextEncoder().encode('card-trust system test');

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/**
 * The card layer off the happy path, over the real stack (a private pcscd with vpcd and the
 * virtual card, GnuPG's scdaemon and an independent PC/SC client as other applications): the
 * card is never left open, a hung pcscd holds nothing up, sharing with GnuPG loses nothing, a
 * regenerated key is never served stale, and oversized input never reaches the card.
 */
describeWithSandbox('the card layer with other applications, idle locks and a hung pcscd (issue #8)', [SSH_ADD, PYTHON3, GPG, SCDAEMON, GPG_CONNECT_AGENT], () => {
  let sandbox: PcscSandbox;
  let dir: string;
  let agent: AgentProcess;
  let client: AgentClient;
  let ident = '';
  let blob: Uint8Array = new Uint8Array(0);

  const socket = (): string => join(dir, 'agent.sock');
  async function startAgent(): Promise<void> {
    agent = await AgentProcess.start({
      socketPath: socket(),
      args: ['--no-notify', '--card-idle-lock', '2', '--card-wait', '2', '-a', socket()],
      env: sandbox.env(),
    });
    client = await AgentClient.connect(socket());
    await eventually('the card is listed', async () => (await identities()).length === 1);
    const first = (await identities())[0]!;
    blob = first.blob;
    ident = first.ident;
  }
  async function identities(): Promise<{ blob: Uint8Array; ident: string }[]> {
    const r = await client.request({ type: 'request-identities' });
    return r.type === 'identities-answer' ? r.identities.map((i) => ({ blob: i.keyBlob, ident: i.comment })) : [];
  }
  async function addPin(): Promise<void> {
    // In memory only (-t): this test has no keychain.
    const r = await client.request({ type: 'add-smartcard-key-constrained', readerId: ident, pin: new Secret('123456'), constraints: [{ kind: 'lifetime', seconds: 3600 }] });
    expect(r.type).toBe('success');
  }
  const sign = (data: Uint8Array = DATA, key: Uint8Array = blob): Promise<Response> => client.request({ type: 'sign-request', keyBlob: key, data, flags: 0 });
  async function signOk(): Promise<void> {
    const r = await sign();
    expect(r.type, agent.stderr.slice(-2000)).toBe('sign-response');
    if (r.type === 'sign-response') expect(verifySshSignature(blob, DATA, r.signature)).toBe(true);
  }
  const trySign = async (): Promise<string> => (await pcscPeer(sandbox, 'try-sign', '00 00')).stdout.trim();
  beforeAll(async () => {
    dir = await makeTempDir();
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'trust', '--algo', 'ed25519');
    await startAgent();
    await addPin();
  });

  afterAll(async () => {
    client?.close();
    await agent?.stop();
    await sandbox?.stop();
    await cleanupSystem();
  });

  it('another program gets 6982 for INTERNAL AUTHENTICATE after the idle time, after ssh-add -x, and after the agent stops', async () => {
    await signOk();
    // The idle lock (2 s here) takes the verification back: wait for the agent to say so.
    await eventually('the agent locks the idle card', () => agent.stderr.includes('"why":"idle for 2 s"'));
    expect(await trySign()).toBe('6982');

    await signOk();
    expect((await client.request({ type: 'lock', passphrase: new Secret('pass') })).type).toBe('success');
    expect(await trySign()).toBe('6982');
    expect((await client.request({ type: 'unlock', passphrase: new Secret('pass') })).type).toBe('success');

    await signOk();
    client.close();
    const status = await agent.stop('SIGTERM');
    expect(status.code).toBe(0);
    expect(await trySign()).toBe('6982');
    await startAgent();
    await addPin();
    await signOk();
  });

  it('a reset and a foreign application (PIV) selected by other programs between signatures: the next signature still works', async () => {
    await signOk();
    expect((await pcscPeer(sandbox, 'reset', '00 00')).stdout.trim()).toBe('reset');
    await signOk();
    expect((await pcscPeer(sandbox, 'select-piv', '00 00')).stdout.trim()).toBe('9000');
    await signOk();
    expect(agent.stderr).toContain('retrying the whole operation once');
  });

  it('signatures asked for at once go to the card back to back: each checked, one APDU each', async () => {
    await signOk();
    const clients = await Promise.all(Array.from({ length: 8 }, () => AgentClient.connect(socket())));
    try {
      const before = await sandbox.apduCount(0, 'trust');
      const data = clients.map((_, i) => new Uint8Array(64).fill(i + 1));
      const rs = await Promise.all(clients.map((c, i) => c.request({ type: 'sign-request', keyBlob: blob, data: data[i]!, flags: 0 })));
      rs.forEach((r, i) => expect(r.type === 'sign-response' && verifySshSignature(blob, data[i]!, r.signature)).toBe(true));
      expect((await sandbox.apduCount(0, 'trust')) - before).toBe(8);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a sign request bigger than the card takes is refused before it reaches the card; the card stays', async () => {
    await signOk();
    const r = await sign(new Uint8Array(65_527));
    expect(r.type).toBe('failure');
    expect(agent.stderr).toMatch(/65527 bytes of input, but the card takes at most \d+ in one command/);
    expect(await identities()).toHaveLength(1);
    await signOk();
  });

  it('another application holding a transaction makes a signature wait, not fail; past --card-wait it fails, saying why', async () => {
    await signOk();
    const holder = await pcscHolder(sandbox, 'hold-transaction', '00 00');
    const events: string[] = [];
    const pending = sign().then((r) => {
      events.push(`signed:${r.type}`);
      return r;
    });
    await sleep(500);
    events.push('release');
    await holder.release();
    const r = await pending;
    expect(events).toEqual(['release', 'signed:sign-response']);
    expect(r.type === 'sign-response' && verifySshSignature(blob, DATA, r.signature)).toBe(true);

    const stuck = await pcscHolder(sandbox, 'hold-transaction', '00 00');
    try {
      expect((await sign()).type).toBe('failure');
      expect(agent.stderr).toContain('another application kept the card to itself for 2 s');
    } finally {
      await stuck.release();
    }
    await signOk();
  });

  it('with pcscd stopped (SIGSTOP), ssh-add -l keeps answering; signing resumes once it runs again', async () => {
    await signOk();
    const pcscd = await sandbox.pid('pcscd');
    process.kill(pcscd, 'SIGSTOP');
    const took: number[] = [];
    try {
      const env = cleanEnv({ SSH_AUTH_SOCK: socket() });
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const r = await runProgram(SSH_ADD, ['-l'], { env, timeoutMs: 10_000 });
        took.push(performance.now() - t0);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(ident);
        await sleep(250);
      }
      // Still stopped: every listing above was answered without pcscd.
      expect((await runProgram('/bin/ps', ['-o', 'stat=', '-p', String(pcscd)])).stdout.trim()).toMatch(/^T/);
    } finally {
      process.kill(pcscd, 'SIGCONT');
    }
    console.log(`ssh-add -l with pcscd stopped: ${took.map((t) => t.toFixed(1)).join(', ')} ms`);
    await eventually('a signature works again', async () => (await sign()).type === 'sign-response', 30_000);
  });

  it('a key regenerated by GnuPG (SCD GENKEY) on the plugged card: no signature by the old key is returned, and the listing shows the new key', async () => {
    await signOk();
    const old = blob;
    const admin = await GnupgHome.create('12345678', cleanEnv(sandbox.env()));
    try {
      const gen = await runProgram(GPG_CONNECT_AGENT, ['SCD GENKEY --force 3', '/bye'], { env: admin.env, timeoutMs: 60_000 });
      expect(gen.stdout, gen.stderr).toContain('OK');
    } finally {
      await admin.stop();
    }
    // The listing checks a card's key fingerprints when it last did so more than a second ago.
    await sleep(1100);
    const now = await identities();
    expect(now).toHaveLength(1);
    expect(Buffer.from(now[0]!.blob).equals(Buffer.from(old))).toBe(false);
    blob = now[0]!.blob;
    expect((await sign(DATA, old)).type).toBe('failure');
    await signOk();
  });

  it('while gpg --card-status runs in a loop (scdaemon, pcsc-shared), 10,000 signatures all succeed and the PIN retry counter never drops', async () => {
    const gpg = await GnupgHome.create('123456', cleanEnv(sandbox.env()));
    let stop = false;
    let runs = 0;
    let gpgFailures = 0;
    const loop = (async () => {
      while (!stop) {
        const r = await new Promise<number | null>((resolve) => {
          const p = spawn('gpg', ['--batch', '--card-status'], { env: gpg.env, stdio: 'ignore' });
          p.once('exit', resolve);
        });
        if (r === 0) runs++;
        else gpgFailures++;
      }
    })();
    const clients = await Promise.all(Array.from({ length: 4 }, () => AgentClient.connect(socket())));
    const failures: string[] = [];
    try {
      await eventually('gpg --card-status has run', () => runs > 0, 60_000);
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 2500; i++) {
            const r = await c.request({ type: 'sign-request', keyBlob: blob, data: DATA, flags: 0 });
            if (r.type !== 'sign-response' || !verifySshSignature(blob, DATA, r.signature)) failures.push(r.type);
          }
        }),
      );
    } finally {
      stop = true;
      await loop;
      for (const c of clients) c.close();
      await gpg.stop();
    }
    console.log(`10,000 signatures beside ${runs} gpg --card-status runs (${gpgFailures} gpg failures)`);
    expect(failures).toEqual([]);
    expect(runs).toBeGreaterThan(5);
    expect(gpgFailures).toBe(0);
    // Read beside the running agent with GET DATA C4 (no PIN try).
    const status = JSON.parse((await runCli(['status', '--json', '--no-agent'], { env: cleanEnv(sandbox.env()) })).stdout) as { cards: { pinRetries: number }[] };
    expect(status.cards[0]!.pinRetries).toBe(3);
  });
});
