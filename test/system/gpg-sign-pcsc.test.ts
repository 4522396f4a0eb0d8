import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GnupgHome } from '../../src/bench/gnupg-home.js';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, requireBuild, runProgram, type RunResult } from './harness/agent-process.js';
import { GIT, GPG, GPG_SHIM, GPGCONF, UID, confirmScript, ok, openPgpJsVerifies, shellQuote as q, splitSignedCommit } from './harness/git-sign.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { PYTHON3, pcscPeer } from './harness/pcsc-peer.js';
import { SSH, SSHD, SSH_ADD, Sshd, sshLogin } from './harness/sshd.js';

const SCDAEMON = '/usr/lib/gnupg/scdaemon';
const GPG_AGENT = '/usr/bin/gpg-agent';
const USER_PIN = '123456';
const ADMIN_PIN = '12345678';
/** The sandbox's first reader, as pcsc-peer.py names it by suffix. */
const READER = '00 00';

/** What the virtual card itself recorded (its state file, written by the card's own process). */
interface CardState {
  readonly serial: number;
  readonly dos: Record<string, string>;
  readonly signatureCounter: number;
}

/** Waits until `check` holds (polling a condition, not a time), or fails naming `what`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One user's machine over the sandbox's pcscd: a private HOME (config, known_hosts), GnuPG home,
 * certificate directory and git repository, and the daemon as users run it (no --simulate).
 */
class Machine {
  agent!: AgentProcess;
  readonly socketPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly repo: string;

  private constructor(
    readonly dir: string,
    readonly sandbox: PcscSandbox,
    private readonly agentEnv: Record<string, string>,
  ) {
    this.socketPath = join(dir, 'agent.sock');
    this.repo = join(dir, 'repo');
    this.env = cleanEnv({
      SSH_AUTH_SOCK: this.socketPath,
      GNUPGHOME: join(dir, 'gnupg'),
      OPENPGP_CARD_AGENT_CERTIFICATES: join(dir, 'certs'),
      GIT_CONFIG_GLOBAL: join(dir, 'gitconfig'),
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: dir,
    });
  }

  static async create(sandbox: PcscSandbox, agentEnv: Record<string, string> = {}): Promise<Machine> {
    const m = new Machine(await makeTempDir('oca-gpg-pcsc-'), sandbox, agentEnv);
    await mkdir(join(m.dir, 'gnupg'), { mode: 0o700 });
    await mkdir(join(m.dir, 'certs'));
    await mkdir(join(m.dir, 'config'));
    await mkdir(m.repo);
    ok(await m.git(['init', '-q']), 'git init');
    for (const [k, v] of [
      ['user.name', 'Card Tester'],
      ['user.email', 'card@example.org'],
      ['gpg.program', GPG_SHIM],
    ] as const) ok(await m.git(['config', k, v]), 'git config');
    return m;
  }

  /** Starts (or restarts) the daemon over the sandbox's pcscd, with a HOME and config of this machine (no keychain: PINs stay in memory). */
  async startAgent(args: readonly string[] = []): Promise<void> {
    await this.agent?.stop();
    this.agent = await AgentProcess.start({
      socketPath: this.socketPath,
      args: ['--no-notify', '-a', this.socketPath, ...args],
      env: { ...this.sandbox.env(), HOME: this.dir, XDG_CONFIG_HOME: join(this.dir, 'config'), ...this.agentEnv },
    });
  }

  /** The card's ident, once the daemon lists its SSH key (as `ssh-add -L` shows it). */
  async ident(): Promise<string> {
    let line = '';
    await eventually('the card is listed', async () => {
      const r = await runProgram(SSH_ADD, ['-L'], { env: this.env });
      line = r.code === 0 ? r.stdout.trim() : '';
      return line.split('\n').length === 1 && line !== '';
    });
    return line.split(' ')[2]!;
  }

  async sshKeyLine(): Promise<string> {
    await this.ident();
    return ok(await runProgram(SSH_ADD, ['-L'], { env: this.env }), 'ssh-add -L').stdout.trim();
  }

  /** ssh-add -s IDENT with the PIN typed through SSH_ASKPASS; -t keeps it in memory only. */
  async addPin(ident: string, pin = USER_PIN): Promise<RunResult> {
    const askpass = join(this.dir, 'pin.sh');
    await writeFile(askpass, `#!/bin/sh\necho ${pin}\n`);
    await chmod(askpass, 0o700);
    return runProgram(SSH_ADD, ['-t', '3600', '-s', ident], { env: { ...this.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } });
  }

  git(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
    return runProgram(GIT, ['-C', this.repo, ...args], { env: { ...this.env, ...extraEnv }, timeoutMs: 60_000 });
  }

  /** Puts `armored` in the certificate directory and into GnuPG, marked as the user's own. */
  async trustCertificate(armored: string, fingerprint: string): Promise<void> {
    const file = join(this.dir, 'certs', 'card.asc');
    await writeFile(file, armored);
    ok(await runProgram(GPG, ['--batch', '--import', file], { env: this.env }), 'gpg --import');
    ok(await runProgram(GPG, ['--batch', '--import-ownertrust'], { env: this.env, input: `${fingerprint}:6:\n` }), 'gpg --import-ownertrust');
  }

  async stop(): Promise<void> {
    await runProgram(GPGCONF, ['--kill', 'all'], { env: this.env });
    await this.agent?.stop();
  }
}

/** HEAD's commit verified three ways: git verify-commit (GnuPG behind our shim), gpg --verify of the split signature, OpenPGP.js. */
async function expectVerified(m: Machine, certificate: string, fingerprint: string, rev = 'HEAD'): Promise<void> {
  const raw = ok(await m.git(['verify-commit', '--raw', rev]), 'git verify-commit');
  expect(raw.stderr).toMatch(/\[GNUPG:\] GOODSIG [0-9A-F]{16} Card Tester <card@example.org>/);
  expect(raw.stderr).toContain(`[GNUPG:] VALIDSIG ${fingerprint} `);
  const { payload, signature } = splitSignedCommit(ok(await m.git(['cat-file', 'commit', rev]), 'cat-file').stdout);
  const sigFile = join(m.dir, 'commit.sig');
  await writeFile(sigFile, signature);
  const gpg = await runProgram(GPG, ['--status-fd=1', '--verify', sigFile, '-'], { env: m.env, input: payload });
  expect(gpg.code, gpg.stderr).toBe(0);
  expect(gpg.stdout).toContain(`[GNUPG:] VALIDSIG ${fingerprint} `);
  const js = await openPgpJsVerifies(certificate, payload, signature);
  expect(js).toEqual({ fingerprint, verified: true });
  expect((await openPgpJsVerifies(certificate, `${payload}x`, signature)).verified).toBe(false);
}

describeWithSandbox('git commit signing over pcscd (OpenPGP): the daemon, openpgp-card-agent gpg, GnuPG, OpenPGP.js', [GPG, GPGCONF, GIT, SSHD, SSH, SSH_ADD, PYTHON3, SCDAEMON, GPG_AGENT], () => {
  let sandbox: PcscSandbox;
  const cardState = async (name: string): Promise<CardState> => JSON.parse(await readFile(sandbox.statePath(name), 'utf8')) as CardState;

  beforeAll(async () => {
    requireBuild();
    sandbox = await PcscSandbox.start();
  });

  afterAll(async () => {
    await sandbox?.stop(); // before cleanupSystem(), which removes the sandbox's directory
    await cleanupSystem();
  });

  for (const algo of ['rsa2048', 'p256', 'ed25519'] as const) {
    describe(`${algo} signature key`, () => {
      let m: Machine;
      const name = `card-${algo}`;

      beforeAll(async () => {
        // The signature key's algorithm is chosen apart from the authentication key's, as on a YubiKey.
        await sandbox.card(0, name, '--algo', 'ed25519', '--sign-algo', algo);
        m = await Machine.create(sandbox);
        await m.startAgent();
      });

      afterAll(async () => {
        await m?.stop();
        await sandbox.uncard(0);
      });

      it('ssh-add -s, a certificate made on the card, git commit -S: verified by GnuPG, git and OpenPGP.js; the card counted each PSO:CDS', async () => {
        const ident = await m.ident();
        expect((await m.addPin(ident)).stderr).toContain('Card added');
        const state = await cardState(name);
        const fingerprint = state.dos['c7']!.toUpperCase();
        expect(state.signatureCounter).toBe(0);
        const listed = ok(await runProgram(GPG_SHIM, ['-K'], { env: m.env }), 'gpg -K').stdout;
        expect(listed).toContain(fingerprint);
        expect(listed).toContain(`Card ${ident}`);
        expect(listed).toMatch(algo === 'rsa2048' ? /sec> {2}rsa2048 / : algo === 'p256' ? /sec> {2}nistp256 / : /sec> {2}ed25519 /);

        // The certificate: three signatures by the card (user ID, two subkey bindings).
        const certificate = ok(await runProgram(GPG_SHIM, ['--export', '--uid', UID, '--armor'], { env: m.env, timeoutMs: 60_000 }), 'gpg --export').stdout;
        await m.trustCertificate(certificate, fingerprint);
        expect((await cardState(name)).signatureCounter).toBe(3);

        ok(await m.git(['commit', '-q', '-S', '--allow-empty', '-m', `signed over pcscd by the ${algo} key`]), 'git commit -S');
        await expectVerified(m, certificate, fingerprint);
        expect((await cardState(name)).signatureCounter).toBe(4);
        const log = ok(await m.git(['log', '-1', '--format=%G? %GF %s']), 'git log').stdout.trim();
        expect(log).toBe(`G ${fingerprint} signed over pcscd by the ${algo} key`);
        expect(m.agent.logLines().some((l) => l['msg'] === 'OpenPGP signature made' && l['purpose'] === 'git commit')).toBe(true);
      });
    });
  }

  describe('a card whose keys GnuPG generated (gpg --card-edit, generate)', () => {
    let m: Machine;
    let gnupg: GnupgHome;
    let certificate: string;
    let fingerprint: string;
    const name = 'gnupg-made';

    beforeAll(async () => {
      await sandbox.card(0, name, '--algo', 'ed25519');
      m = await Machine.create(sandbox);
      // GnuPG's own home, with the sandbox's pcscd for its scdaemon; its pinentry answers the
      // Admin PIN (key generation) and the User PIN (the certificate's self-signatures).
      gnupg = await GnupgHome.create({ user: USER_PIN, admin: ADMIN_PIN }, cleanEnv(m.sandbox.env()));
    });

    afterAll(async () => {
      await gnupg?.stop();
      await m?.stop();
      await sandbox.uncard(0);
    });

    it('GnuPG generates the three keys on the card and makes its certificate; the card stores its fingerprints', async () => {
      const before = await cardState(name);
      // The answers to card-edit's questions, in order: admin mode, generate, no off-card
      // backup, replace the keys the card has, no expiry, the user ID, no comment, then quit.
      const input = ['admin', 'generate', 'n', 'y', '0', 'Card Tester', 'card@example.org', '', 'quit', ''].join('\n');
      const r = await runProgram(GPG, ['--no-tty', '--command-fd', '0', '--status-fd', '1', '--card-edit'], { env: gnupg.env, input, timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      fingerprint = /\[GNUPG:\] KEY_CREATED B ([0-9A-F]{40})/.exec(r.stdout)?.[1] ?? '';
      expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);
      const after = await cardState(name);
      expect(after.dos['c7']!.toUpperCase()).toBe(fingerprint);
      expect(after.dos['c7']).not.toBe(before.dos['c7']);
      certificate = ok(await runProgram(GPG, ['--batch', '--export', '--armor', fingerprint], { env: gnupg.env }), 'gpg --export').stdout;
      expect(certificate).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
      // GnuPG lets go of the card (scdaemon shares it anyway: pcsc-shared).
      ok(await runProgram(GPGCONF, ['--kill', 'all'], { env: gnupg.env }), 'gpgconf --kill all');
    });

    it("our gpg finds the key by the fingerprint of GnuPG's certificate; git commit -S verifies with that certificate (GnuPG, git, OpenPGP.js)", async () => {
      expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);
      await m.startAgent();
      const ident = await m.ident();
      expect((await m.addPin(ident)).stderr).toContain('Card added');
      // The forge's view: only GnuPG's exported certificate, imported into a GnuPG that never saw the card.
      await m.trustCertificate(certificate, fingerprint);
      const listed = ok(await runProgram(GPG_SHIM, ['-K'], { env: m.env }), 'gpg -K').stdout;
      expect(listed).toContain(fingerprint);
      expect(listed).toContain(`uid           ${UID}`);
      expect(listed).not.toContain('the card stores another fingerprint');
      // No user.signingkey: git passes the committer, found by e-mail in GnuPG's certificate.
      ok(await m.git(['commit', '-q', '-S', '--allow-empty', '-m', 'signed by the key GnuPG made']), 'git commit -S');
      await expectVerified(m, certificate, fingerprint);
    });
  });

  describe('the PIN rules for PW1 mode 81', () => {
    let m: Machine;
    let ident: string;
    const name = 'pin-rules';
    const configFile = (): string => join(m.dir, 'config', 'openpgp-card-state', 'config.toml');
    /** PW1's retry counter, read by another PC/SC client (pyscard): GET DATA C4, byte 5. */
    const pw1Retries = async (): Promise<number> => Buffer.from((await pcscPeer(sandbox, 'get-data', READER, 'c4')).stdout.trim(), 'hex')[4]!;
    const attempt = (i: number): Promise<RunResult> => m.git(['commit', '-q', '-S', '--allow-empty', '-m', `attempt ${i}`]);

    beforeAll(async () => {
      await sandbox.card(0, name, '--algo', 'ed25519', '--sign-algo', 'p256');
      m = await Machine.create(sandbox);
      await m.startAgent();
      ident = await m.ident();
      const fpr = (await cardState(name)).dos['c7']!.toUpperCase();
      ok(await m.git(['config', 'user.signingkey', fpr]), 'git config user.signingkey');
    });

    afterAll(async () => {
      await m?.stop();
      await sandbox.uncard(0);
    });

    it('a wrong stored PIN costs one try over twenty git commit -S and a restart; a PIN given with ssh-add -s signs again', async () => {
      // A stored PIN the card will reject: openpgp-card-state's Direct storage in config.toml.
      await mkdir(dirname(configFile()), { recursive: true });
      await writeFile(configFile(), `[[cards]]\nident = "${ident}"\n[cards.pin_storage]\nDirect = "999999"\n`, { mode: 0o600 });
      await m.startAgent();
      await m.ident();
      expect(await pw1Retries()).toBe(3);
      for (let i = 0; i < 10; i++) {
        const r = await attempt(i);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('gpg failed to sign the data');
      }
      expect(await pw1Retries()).toBe(2);
      // The rejected PIN is gone from the store, and not sent again after a restart either.
      expect(await readFile(configFile(), 'utf8')).not.toContain('999999');
      // Said once, with the tries left, when the card rejected it.
      const wrong = m.agent.logLines().filter((l) => l['target'] === 'agent' && String(l['msg']).startsWith(`the stored PIN for card ${ident} is wrong`));
      expect(wrong.map((l) => l['retriesLeft'])).toEqual([2]);
      await m.startAgent();
      await m.ident();
      for (let i = 10; i < 20; i++) expect((await attempt(i)).code).not.toBe(0);
      expect(await pw1Retries()).toBe(2);
      expect((await cardState(name)).signatureCounter).toBe(0);
      expect(ok(await m.git(['rev-list', '--all', '--count']), 'rev-list').stdout.trim()).toBe('0');

      expect((await m.addPin(ident)).stderr).toContain('Card added');
      expect(await pw1Retries()).toBe(3);
      ok(await attempt(20), 'git commit -S with the PIN given');
      expect((await cardState(name)).signatureCounter).toBe(1);
      const raw = ok(await m.git(['verify-commit', '--raw', 'HEAD'], { OPENPGP_CARD_AGENT_GPG: 'none' }), 'verify-commit (ours)');
      expect(raw.stderr).toContain('[GNUPG:] GOODSIG ');
    });
  });

  describe('remote workspace: ssh -A into sshd, git commit -S there, the card over pcscd', () => {
    let m: Machine;
    let sshd: Sshd;
    let confirm: Awaited<ReturnType<typeof confirmScript>>;
    const name = 'remote';

    beforeAll(async () => {
      sshd = await Sshd.start();
      await sandbox.card(0, name, '--algo', 'ed25519', '--sign-algo', 'rsa2048');
      const dir = await makeTempDir('oca-confirm-');
      confirm = await confirmScript(dir);
      // --forwarded confirm (the default), answered through SSH_ASKPASS.
      m = await Machine.create(sandbox, confirm.env);
      const hostKey = (await readFile(join(sshd.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
      await mkdir(join(m.dir, '.ssh'));
      await writeFile(join(m.dir, '.ssh', 'known_hosts'), `build-box ${hostKey}\n`);
      await m.startAgent();
    });

    afterAll(async () => {
      await m?.stop();
      await sshd?.stop();
      await sandbox.uncard(0);
    });

    it('the remote git signs through the forwarded agent after the user confirms "sign a git commit for build-box?"; verified there and here', async () => {
      const line = await m.sshKeyLine();
      const ident = line.split(' ')[2]!;
      expect((await m.addPin(ident)).stderr).toContain('Card added');
      await sshd.authorize(line);
      const fingerprint = (await cardState(name)).dos['c7']!.toUpperCase();
      const certificate = ok(await runProgram(GPG_SHIM, ['--export', '--uid', UID, '--armor'], { env: m.env, timeoutMs: 60_000 }), 'gpg --export').stdout;
      await m.trustCertificate(certificate, fingerprint);
      await confirm.answer('yes');
      const remote = [
        // sshd gives the session its own PATH and HOME; the workspace's dotfiles would set these.
        `export PATH=${q(dirname(process.execPath))}:$PATH`,
        `export GNUPGHOME=${q(join(m.dir, 'gnupg'))} OPENPGP_CARD_AGENT_CERTIFICATES=${q(join(m.dir, 'certs'))}`,
        `export GIT_CONFIG_GLOBAL=${q(join(m.dir, 'gitconfig'))} GIT_CONFIG_NOSYSTEM=1`,
        `cd ${q(m.repo)}`,
        'git commit -q -S --allow-empty -m "signed in the remote workspace, card over pcscd"',
        'git verify-commit HEAD',
        'echo "remote SSH_AUTH_SOCK=$SSH_AUTH_SOCK"',
      ].join(' && ');
      const r = await sshLogin({ port: sshd.port, agentSocket: m.socketPath, extraArgs: ['-A'], command: remote });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(/remote SSH_AUTH_SOCK=(\S+)/.exec(r.stdout)?.[1]).not.toBe(m.socketPath);
      expect(r.stderr).toContain('Good signature from "Card Tester <card@example.org>"');
      await expectVerified(m, certificate, fingerprint);
      expect((await cardState(name)).signatureCounter).toBe(4);
      const asked = await confirm.prompts();
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain(`Allow card ${ident} to sign a git commit for build-box?`);
      expect(asked[0]).toContain('Path: this computer → build-box');
    });
  });
});
