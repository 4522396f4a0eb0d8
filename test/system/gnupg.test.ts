import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GnupgHome } from '../../src/bench/gnupg-home.js';
import { cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { SSH_ADD, SSH_KEYGEN } from './harness/sshd.js';

const GPG = '/usr/bin/gpg';
const SCDAEMON = '/usr/lib/gnupg/scdaemon';
const GPG_AGENT = '/usr/bin/gpg-agent';

/**
 * Conformance: GnuPG, an independent host, reads our virtual card over pcscd + vpcd and signs
 * with it through gpg-agent's ssh support.
 */
describeWithSandbox('GnuPG (scdaemon, gpg-agent) accepts the virtual card', [GPG, SCDAEMON, GPG_AGENT, SSH_ADD, SSH_KEYGEN], () => {
  let sandbox: PcscSandbox;
  let gpg: GnupgHome;
  let dir: string;

  beforeAll(async () => {
    dir = await makeTempDir();
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'gpg-card', '--algo', 'ed25519');
    // gpg-agent and scdaemon inherit PCSCLITE_CSOCK_NAME: scdaemon talks to the sandbox's pcscd.
    gpg = await GnupgHome.create('123456', cleanEnv(sandbox.env()));
  });

  afterAll(async () => {
    await gpg?.stop();
    await sandbox?.stop();
    await cleanupSystem();
  });

  it('gpg --card-status reads the card: serial, version, key attributes, fingerprints, PIN counters', async () => {
    const state = JSON.parse(await readFile(sandbox.statePath('gpg-card'), 'utf8')) as { serial: number; dos: Record<string, string> };
    const status = await gpg.cardStatus();
    expect(status).toMatch(/Version \.+: 3\.4/);
    expect(status).toContain(`Serial number ....: ${state.serial.toString(16).toUpperCase().padStart(8, '0')}`);
    expect(status).toMatch(/Key attributes \.+: ed25519 cv25519 ed25519/);
    expect(status).toMatch(/PIN retry counter : 3 0 3/);
    const fp = state.dos['c9']!.toUpperCase().match(/.{4}/g)!.join(' ');
    expect(status).toContain(fp.slice(0, 24));
  });

  it("gpg-agent's ssh support lists the card's authentication key and signs with it", async () => {
    const socket = await gpg.startAgent();
    const env = cleanEnv({ SSH_AUTH_SOCK: socket, GNUPGHOME: gpg.dir, ...sandbox.env() });
    const list = await runProgram(SSH_ADD, ['-L'], { env });
    expect(list.code).toBe(0);
    const line = list.stdout.split('\n').find((l) => l.startsWith('ssh-ed25519'));
    expect(line).toBeDefined();
    const pub = join(dir, 'card.pub');
    const msg = join(dir, 'message');
    await writeFile(pub, `${line}\n`);
    await writeFile(msg, 'signed through gpg-agent\n');
    const sign = await runProgram(SSH_KEYGEN, ['-Y', 'sign', '-f', pub, '-n', 'file', msg], { env, timeoutMs: 60_000 });
    expect(sign.code).toBe(0);
    await writeFile(join(dir, 'signers'), `card ${line}\n`);
    const verify = await runProgram(SSH_KEYGEN, ['-Y', 'verify', '-f', join(dir, 'signers'), '-I', 'card', '-n', 'file', '-s', `${msg}.sig`], {
      env,
      input: 'signed through gpg-agent\n',
    });
    expect(verify.stdout).toContain('Good "file" signature');
  });
});
