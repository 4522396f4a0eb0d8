import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { doctor, emptyHome, type DoctorRun } from './doctor-harness.js';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { PYTHON3, pcscHolder, pcscPeer } from './harness/pcsc-peer.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { KeyringSession, GNOME_KEYRING, DBUS_DAEMON, SECRET_TOOL } from './harness/keyring.js';
import { SSH_ADD } from './harness/sshd.js';

const GPG = '/usr/bin/gpg';
const GPGCONF = '/usr/bin/gpgconf';
const GPG_CONNECT_AGENT = '/usr/bin/gpg-connect-agent';
const SCDAEMON = '/usr/lib/gnupg/scdaemon';

const OPENPGP_SELECT = '00a4040006d2760001240100';
/** VERIFY PW1 (82) with "111111", which is not the virtual card's PIN. */
const WRONG_VERIFY = '0020008206313131313131';

/** The card's ident as the simulator's state file has it (an oracle that is not the driver's parser). */
async function identOf(sandbox: PcscSandbox, name: string): Promise<string> {
  const state = JSON.parse(await readFile(sandbox.statePath(name), 'utf8')) as { serial: number };
  return `FF00:${state.serial.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Runs doctor until `done` holds for its report (pcscd frees a stopped program's card a moment later). */
async function doctorUntil(env: Record<string, string | undefined>, done: (d: DoctorRun) => boolean): Promise<DoctorRun> {
  let last: DoctorRun | undefined;
  await expect
    .poll(
      async () => {
        last = await doctor(env);
        return done(last);
      },
      { timeout: 30_000, interval: 250 },
    )
    .toBe(true);
  return last!;
}

/**
 * doctor's PC/SC checks over the real stack: a private pcscd with the virtual card (vpcd), GnuPG's
 * scdaemon and an independent PC/SC client (pyscard) as the other programs, each condition made
 * real: pcscd stopped (SIGSTOP) and killed, a card held exclusively, a blocked card.
 */
describeWithSandbox('doctor over PC/SC: pcscd, readers and cards, exclusive holders, PIN tries', [PYTHON3, GPG, GPGCONF, GPG_CONNECT_AGENT, SCDAEMON, SSH_ADD], () => {
  let sandbox: PcscSandbox;
  let ident = '';
  let home: Record<string, string>;
  const env = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({ ...home, ...sandbox.env(), ...extra });

  beforeAll(async () => {
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'card-a', '--algo', 'ed25519');
    ident = await identOf(sandbox, 'card-a');
    home = await emptyHome();
  });

  afterAll(async () => {
    await sandbox?.stop(); // before cleanupSystem(), which removes its directory
    await cleanupSystem();
  });

  it('pcscd answers; the OpenPGP card is named by its ident with its PIN tries; the empty slot is listed', async () => {
    const d = await doctor(env());
    expect(d.checks.get('pcscd')).toEqual({ id: 'pcscd', title: 'pcscd', verdict: 'ok', summary: `pcscd answers (${sandbox.socketPath}): 2 readers` });
    const cards = d.checks.get('cards');
    expect(cards).toMatchObject({ verdict: 'ok', summary: `1 OpenPGP card: ${ident} in OCA Virtual Reader 00 00` });
    expect(cards?.detail).toEqual([`OCA Virtual Reader 00 00: OpenPGP card ${ident} (version 3.4), User PIN 3 tries left`, 'OCA Virtual Reader 00 01: no card']);
    expect(d.checks.get('card-exclusive')).toMatchObject({ verdict: 'ok' });
    expect(d.checks.get('pin-tries')).toMatchObject({ verdict: 'ok', summary: `User PIN: 3 tries left (${ident})` });
    // No D-Bus here: whether a PIN is stored cannot be told, and doctor says why.
    expect(d.checks.get('pin-stored')).toMatchObject({ verdict: 'warn', summary: `whether the PIN of ${ident} is stored could not be told` });
    expect(d.text).toMatch(new RegExp(`^\\[ ok \\] readers and cards +1 OpenPGP card: ${ident} in OCA Virtual Reader 00 00$`, 'm'));
  });

  it('with the agent serving the card (shared): the card is read all the same, and not reported as held', async () => {
    const socketPath = join(await makeTempDir(), 'agent.sock');
    const agent = await AgentProcess.start({ socketPath, args: ['--no-notify', '-a', socketPath], env: sandbox.env() });
    try {
      await expect.poll(async () => (await runProgram(SSH_ADD, ['-L'], { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath }) })).stdout, { timeout: 15_000 }).toContain(ident);
      const d = await doctor(env({ SSH_AUTH_SOCK: agent.socketPath }));
      expect(d.checks.get('ssh-auth-sock')?.verdict).toBe('ok');
      expect(d.checks.get('cards')).toMatchObject({ verdict: 'ok', summary: `1 OpenPGP card: ${ident} in OCA Virtual Reader 00 00` });
      expect(d.checks.get('card-exclusive')).toMatchObject({ verdict: 'ok' });
      expect(d.checks.get('pin-tries')).toMatchObject({ verdict: 'ok', summary: `User PIN: 3 tries left (${ident})` });
    } finally {
      await agent.stop();
    }
  });

  it("the card held by GnuPG's scdaemon without pcsc-shared: doctor names scdaemon and its pid, gives the exact lines, and is satisfied once they are followed", async () => {
    const gnupg = join(await makeTempDir('oca-dg-'), 'h');
    await mkdir(gnupg, { mode: 0o700 });
    // As src/bench/gnupg-home.ts, but without pcsc-shared: scdaemon opens the card exclusively.
    await writeFile(join(gnupg, 'scdaemon.conf'), 'disable-ccid\npcsc-driver libpcsclite.so.1\n');
    const genv = cleanEnv({ GNUPGHOME: gnupg, ...sandbox.env() });
    try {
      const status = await runProgram(GPG, ['--batch', '--card-status'], { env: genv, timeoutMs: 60_000 });
      expect(status.stdout).toContain('Application type .: OpenPGP');
      // scdaemon's own answer for its pid (an oracle outside doctor).
      const pidReply = await runProgram(GPG_CONNECT_AGENT, ['SCD GETINFO pid', '/bye'], { env: genv });
      const scdPid = Number(/^D (\d+)$/m.exec(pidReply.stdout)?.[1]);
      expect(scdPid).toBeGreaterThan(0);
      // pyscard cannot connect shared either: the card is held exclusively.
      await expect(pcscPeer(sandbox, 'select-piv', '00 00')).rejects.toThrow(/SCARD_E_SHARING_VIOLATION|0x8010000b/i);

      const d = await doctor(env({ GNUPGHOME: gnupg }));
      expect(d.code).toBe(1);
      const held = d.checks.get('card-exclusive');
      expect(held).toMatchObject({
        verdict: 'fail',
        summary: `the card in OCA Virtual Reader 00 00 is held exclusively by GnuPG's scdaemon (pid ${scdPid}), which runs without pcsc-shared: this agent cannot use it`,
        detail: [`scdaemon pid ${scdPid}: GnuPG home ${gnupg}, scdaemon.conf lacks pcsc-shared, on the pcscd at ${sandbox.socketPath}`],
        fix: [`add this line to ${join(gnupg, 'scdaemon.conf')}:`, '    pcsc-shared', 'then stop the running scdaemon (gpg starts it again when needed):', '    gpgconf --kill scdaemon'],
      });
      expect(d.checks.get('cards')?.detail).toContain('OCA Virtual Reader 00 00: a card held exclusively by another program (see card in use)');
      expect(d.checks.get('scdaemon')?.verdict).toBe('fail');
      expect(d.text).toMatch(/^\[FAIL\] card in use +the card in OCA Virtual Reader 00 00 is held exclusively by GnuPG's scdaemon/m);

      // From another GnuPG home (the user's own, say), the scdaemon is still found, and the kill names its home.
      const other = await doctor(env());
      expect(other.checks.get('card-exclusive')?.fix?.at(-1)).toBe(`    GNUPGHOME=${gnupg} gpgconf --kill scdaemon`);

      // Followed as told: pcsc-shared, then gpgconf --kill scdaemon.
      await writeFile(join(gnupg, 'scdaemon.conf'), 'disable-ccid\npcsc-driver libpcsclite.so.1\npcsc-shared\n');
      expect((await runProgram(GPGCONF, ['--kill', 'scdaemon'], { env: genv })).code).toBe(0);
      const fixed = await doctorUntil(env({ GNUPGHOME: gnupg }), (r) => r.checks.get('card-exclusive')?.verdict === 'ok');
      expect(fixed.checks.get('cards')).toMatchObject({ verdict: 'ok', summary: `1 OpenPGP card: ${ident} in OCA Virtual Reader 00 00` });
      expect(fixed.checks.get('scdaemon')?.verdict).toBe('ok');
    } finally {
      await runProgram(GPGCONF, ['--kill', 'all'], { env: genv });
    }
  });

  it('the card held exclusively by another program: doctor says so and lists the programs on that pcscd', async () => {
    // pcscd frees scdaemon's connection a moment after it exits: wait until the card is free.
    await doctorUntil(env(), (r) => r.checks.get('card-exclusive')?.verdict === 'ok');
    const holder = await pcscHolder(sandbox, 'hold-exclusive', '00 00');
    try {
      const d = await doctor(env());
      const held = d.checks.get('card-exclusive');
      expect(held).toMatchObject({ verdict: 'fail', summary: 'the card in OCA Virtual Reader 00 00 is held exclusively by another program: this agent cannot use it' });
      expect(held?.detail?.[0]).toBe('pcscd does not say which program; these use the same pcscd now:');
      expect(held?.detail).toContainEqual(expect.stringMatching(new RegExp(`^  python3 \\(pid ${holder.child.pid}\\): .*pcsc-peer\\.py hold-exclusive 00 00$`)));
    } finally {
      await holder.release();
    }
  });

  it('a blocked card (three wrong VERIFYs by another program): "blocked", and the ways to unblock it', async () => {
    await sandbox.card(1, 'card-b', '--algo', 'p256');
    const blocked = await identOf(sandbox, 'card-b');
    const sws = (await pcscPeer(sandbox, 'apdus', '00 01', OPENPGP_SELECT, WRONG_VERIFY, WRONG_VERIFY, WRONG_VERIFY)).stdout.trim().split('\n');
    // The third wrong PIN: 63C0 (no try left), or 6983 on cards that say "blocked" at once.
    expect(sws.slice(0, 3)).toEqual(['9000', '63c2', '63c1']);
    expect(sws[3]).toMatch(/^(63c0|6983)$/);
    try {
      const d = await doctorUntil(env(), (r) => r.checks.get('card-exclusive')?.verdict === 'ok');
      expect(d.code).toBe(1);
      const tries = d.checks.get('pin-tries');
      expect(tries).toMatchObject({ verdict: 'fail', summary: `the User PIN of ${blocked} is blocked: that card signs nothing until it is unblocked` });
      expect(tries?.detail).toEqual([
        `${ident}: User PIN 3 tries left, Reset Code not set or blocked, Admin PIN 3 tries left`,
        `${blocked}: User PIN blocked (0 tries left), Reset Code not set or blocked, Admin PIN 3 tries left`,
      ]);
      expect(tries?.fix).toEqual([
        `${blocked}: unblock the User PIN with gpg (its scdaemon must reach the card: see scdaemon),`,
        '  with the Admin PIN (3 tries left): gpg --card-edit, then: admin, then: passwd, then: 2 (unblock PIN)',
        `  then give the new PIN to the agent: ssh-add -s ${blocked}`,
      ]);
      expect(d.checks.get('cards')?.detail).toContain(`OCA Virtual Reader 00 01: OpenPGP card ${blocked} (version 3.4), User PIN blocked (0 tries left)`);
      expect(d.text).toMatch(new RegExp(`^\\[FAIL\\] PIN tries +the User PIN of ${blocked} is blocked`, 'm'));
    } finally {
      await sandbox.uncard(1);
    }
  });

  it('pcscd stopped (SIGSTOP): doctor ends, reports "does not answer" with the pid and how to let it go on', async () => {
    const pcscd = await sandbox.pid('pcscd');
    process.kill(pcscd, 'SIGSTOP');
    let d: DoctorRun;
    try {
      d = await doctor(env());
    } finally {
      process.kill(pcscd, 'SIGCONT');
    }
    expect(d.code).toBe(1);
    const c = d.checks.get('pcscd');
    expect(c).toMatchObject({ verdict: 'fail', summary: `pcscd does not answer (${sandbox.socketPath}): it is hung or stopped, so no card can be reached` });
    expect(c?.detail).toEqual(['SCardEstablishContext did not come back within 3 s; doctor went on without it', expect.stringMatching(new RegExp(`^pcscd is pid ${pcscd}, state T \\(stopped\\)$`))]);
    expect(c?.fix).toEqual(['pcscd is stopped (SIGSTOP, or a debugger holds it): let it go on with', `    sudo kill -CONT ${pcscd}`]);
    for (const id of ['cards', 'card-exclusive', 'pin-tries', 'pin-stored']) expect(d.checks.get(id)).toMatchObject({ verdict: 'skip', summary: 'pcscd does not answer (see pcscd)' });
    // The checks after it still ran.
    expect(d.checks.get('notifications')?.verdict).not.toBe('skip');
    // Running again, pcscd answers.
    await doctorUntil(env(), (r) => r.checks.get('pcscd')?.verdict === 'ok');
  });

  it('pcscd not running: fails, names the socket, and says how to start pcscd', async () => {
    await sandbox.killPcscd();
    try {
      const d = await doctor(env());
      expect(d.code).toBe(1);
      const c = d.checks.get('pcscd');
      expect(c).toMatchObject({ verdict: 'fail', summary: `pcscd is not running (${sandbox.socketPath}), so no card can be reached` });
      expect(c?.detail).toEqual(['SCardEstablishContext: SCARD_E_NO_SERVICE', `PCSCLITE_CSOCK_NAME=${sandbox.socketPath} names the pcscd to use; there is no socket there`]);
      expect(c?.fix?.[0]).toBe("start the pcscd PCSCLITE_CSOCK_NAME names, or unset PCSCLITE_CSOCK_NAME to use the system's (/run/pcscd/pcscd.comm); for that one:");
      expect(c?.fix).toContainEqual(expect.stringMatching(/^ {4}sudo (systemctl enable --now pcscd\.socket|pcscd)$/));
      expect(d.checks.get('cards')).toMatchObject({ verdict: 'skip', summary: 'pcscd cannot be reached (see pcscd)' });
    } finally {
      await sandbox.startPcscd();
    }
  });
});

/** PIN stored, with a real Secret Service: gnome-keyring on a private D-Bus. */
describeWithSandbox('doctor over PC/SC: a PIN stored in the keychain', [DBUS_DAEMON, GNOME_KEYRING, SECRET_TOOL], () => {
  let sandbox: PcscSandbox;
  let keyring: KeyringSession;

  beforeAll(async () => {
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'card-k', '--algo', 'ed25519');
    keyring = await KeyringSession.start();
  });

  afterAll(async () => {
    await keyring?.stop();
    await sandbox?.stop();
    await cleanupSystem();
  });

  it('none stored: a warning with ssh-add -s IDENT; stored as openpgp-card-state does: ok', async () => {
    const ident = await identOf(sandbox, 'card-k');
    const env = { ...(await emptyHome()), ...sandbox.env(), ...keyring.env };
    const none = await doctor(env);
    expect(none.checks.get('pin-stored')).toMatchObject({
      verdict: 'warn',
      summary: `no PIN stored for ${ident}: the agent asks for it (pinentry, else SSH_ASKPASS) when the card needs it`,
      detail: [`${ident}: no PIN stored`],
    });
    expect(none.checks.get('pin-stored')?.fix?.[0]).toBe(`to store it: ssh-add -s ${ident}   (the card checks the PIN first; the agent keeps it in the keychain)`);
    await keyring.store(ident, '123456');
    const stored = await doctor(env);
    expect(stored.checks.get('pin-stored')).toMatchObject({ verdict: 'ok', summary: `the agent finds the PIN of ${ident}`, detail: [`${ident}: stored in the OS keychain`] });
    // Only looked: the entry is still there, unchanged.
    expect(await keyring.lookup(ident)).toBe('123456');
  });
});
