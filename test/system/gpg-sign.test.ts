import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, REPO_ROOT, requireBuild, runProgram, type RunResult } from './harness/agent-process.js';
import { GIT, GPG, GPG_SHIM, GPGCONF, UID, confirmScript, ok, shellQuote as q, splitSignedCommit } from './harness/git-sign.js';
import { SSH, SSHD, SSH_ADD, Sshd, describeWithTools, sshLogin } from './harness/sshd.js';

interface Workspace {
  readonly dir: string;
  readonly agent: AgentProcess;
  readonly env: NodeJS.ProcessEnv;
  readonly repo: string;
  readonly state: string;
}

async function startWorkspace(algo: string): Promise<Workspace> {
  const dir = await makeTempDir('oca-gpg-');
  const socketPath = join(dir, 'agent.sock');
  const state = join(dir, 'card.json');
  const agent = await AgentProcess.start({ socketPath, args: ['--simulate', '--simulate-algo', algo, '--simulate-state', state, '--no-notify', '-a', socketPath] });
  const env = cleanEnv({
    SSH_AUTH_SOCK: socketPath,
    GNUPGHOME: join(dir, 'gnupg'),
    OPENPGP_CARD_AGENT_CERTIFICATES: join(dir, 'certs'),
    GIT_CONFIG_GLOBAL: join(dir, 'gitconfig'),
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: dir,
  });
  await mkdir(join(dir, 'gnupg'), { mode: 0o700 });
  await mkdir(join(dir, 'certs'));
  const repo = join(dir, 'repo');
  await mkdir(repo);
  return { dir, agent, env, repo, state };
}

/** Imports the card's certificate into GnuPG and marks it as the user's own (ownertrust ultimate), as gpg does for keys it made. */
async function importOwnCertificate(ws: Workspace, armored: string): Promise<string> {
  await writeFile(join(ws.dir, 'certs', 'card.asc'), armored);
  ok(await runProgram(GPG, ['--batch', '--import', join(ws.dir, 'certs', 'card.asc')], { env: ws.env }), 'gpg --import');
  const state = JSON.parse(await readFile(ws.state, 'utf8')) as { dos: Record<string, string> };
  const fpr = state.dos['c7']!.toUpperCase();
  ok(await runProgram(GPG, ['--batch', '--import-ownertrust'], { env: ws.env, input: `${fpr}:6:\n` }), 'gpg --import-ownertrust');
  return fpr;
}

async function git(ws: Workspace, args: readonly string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return runProgram(GIT, ['-C', ws.repo, ...args], { env: { ...ws.env, ...extraEnv }, timeoutMs: 60_000 });
}

/**
 * The card's certificate exported through the gpg front end and imported as the user's own, and
 * a git repository whose gpg.program is the front end.
 */
async function signingRepository(ws: Workspace): Promise<void> {
  const exported = ok(await runProgram(GPG_SHIM, ['--export', '--uid', UID, '--armor'], { env: ws.env, timeoutMs: 60_000 }), 'gpg --export');
  await importOwnCertificate(ws, exported.stdout);
  ok(await git(ws, ['init', '-q']), 'git init');
  for (const [k, v] of [
    ['user.name', 'Card Tester'],
    ['user.email', 'card@example.org'],
    ['gpg.program', GPG_SHIM],
  ]) ok(await git(ws, ['config', k!, v!]), 'git config');
}

describeWithTools('git commit signing with the card (OpenPGP), verified by GnuPG, git and OpenPGP.js', [GPG, GPGCONF, GIT], () => {
  beforeAll(() => requireBuild());
  afterAll(async () => {
    await cleanupSystem();
  });

  for (const algo of ['rsa2048', 'p256', 'ed25519'] as const) {
    describe(algo, () => {
      let ws: Workspace;
      let fingerprint: string;

      beforeAll(async () => {
        ws = await startWorkspace(algo);
        await signingRepository(ws);
      });

      afterAll(async () => {
        await runProgram(GPGCONF, ['--kill', 'all'], { env: ws?.env });
        await ws?.agent.stop();
      });

      it("the certificate GnuPG imports names the card's three keys by the fingerprints the card stores", async () => {
        const state = JSON.parse(await readFile(ws.state, 'utf8')) as { dos: Record<string, string> };
        const colons = ok(await runProgram(GPG, ['--batch', '--with-colons', '--with-subkey-fingerprints', '--list-keys'], { env: ws.env }), 'gpg --list-keys').stdout;
        const fprs = colons.split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]);
        // Primary = signature key (C7), then the authentication (C9) and decryption (C8) subkeys.
        expect(fprs).toEqual([state.dos['c7'], state.dos['c9'], state.dos['c8']].map((f) => f!.toUpperCase()));
        expect(colons).toMatch(new RegExp(`^uid:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:${UID.replace(/[<>]/g, '.')}:`, 'm'));
        const caps = colons.split('\n').filter((l) => l.startsWith('pub:') || l.startsWith('sub:')).map((l) => l.split(':')[11]);
        expect(caps).toEqual(['scSCA', 'a', 'e'].map((c) => expect.stringContaining(c[0]!)));
        fingerprint = state.dos['c7']!.toUpperCase();
        const listed = ok(await runProgram(GPG_SHIM, ['-K'], { env: ws.env }), 'gpg -K').stdout;
        expect(listed).toContain(fingerprint);
        expect(listed).toContain(`uid           ${UID}`);
      });

      it("git commit -S (key found by the committer's e-mail) and with user.signingkey; git verify-commit through GnuPG accepts both", async () => {
        ok(await git(ws, ['commit', '-q', '-S', '--allow-empty', '-m', `signed by the ${algo} card key`]), 'git commit -S');
        const raw = ok(await git(ws, ['verify-commit', '--raw', 'HEAD']), 'git verify-commit');
        expect(raw.stderr).toMatch(/\[GNUPG:\] GOODSIG [0-9A-F]{16} Card Tester <card@example.org>/);
        expect(raw.stderr).toContain(`[GNUPG:] VALIDSIG ${fingerprint} `);
        ok(await git(ws, ['-c', `user.signingkey=${fingerprint}`, '-c', 'gpg.program=', '-c', `gpg.openpgp.program=${GPG_SHIM}`, 'commit', '-q', '-S', '--allow-empty', '-m', 'second, by fingerprint']), 'git commit -S (signingkey)');
        ok(await git(ws, ['verify-commit', 'HEAD', 'HEAD~1']), 'git verify-commit both');
        const log = ok(await git(ws, ['log', '--format=%G? %GF %s']), 'git log').stdout.trim().split('\n');
        expect(log).toEqual([`G ${fingerprint} second, by fingerprint`, `G ${fingerprint} signed by the ${algo} card key`]);
      });

      it('gpg --verify accepts the commit signature and rejects it on a changed payload', async () => {
        const { payload, signature } = splitSignedCommit(ok(await git(ws, ['cat-file', 'commit', 'HEAD']), 'cat-file').stdout);
        const sigFile = join(ws.dir, 'commit.sig');
        await writeFile(sigFile, signature);
        const good = await runProgram(GPG, ['--status-fd=1', '--verify', sigFile, '-'], { env: ws.env, input: payload });
        expect(good.code).toBe(0);
        expect(good.stdout).toContain(`[GNUPG:] VALIDSIG ${fingerprint} `);
        const bad = await runProgram(GPG, ['--status-fd=1', '--verify', sigFile, '-'], { env: ws.env, input: payload.replace('second', 'Second') });
        expect(bad.code).toBe(1);
        expect(bad.stdout).toContain('[GNUPG:] BADSIG ');
      });

      it('OpenPGP.js, a second implementation, verifies the same commit signatures with the same certificate', async () => {
        const key = await openpgp.readKey({ armoredKey: await readFile(join(ws.dir, 'certs', 'card.asc'), 'utf8') });
        expect(key.getFingerprint().toUpperCase()).toBe(fingerprint);
        for (const rev of ['HEAD', 'HEAD~1']) {
          const { payload, signature } = splitSignedCommit(ok(await git(ws, ['cat-file', 'commit', rev]), 'cat-file').stdout);
          const result = await openpgp.verify({
            message: await openpgp.createMessage({ binary: new TextEncoder().encode(payload) }),
            signature: await openpgp.readSignature({ armoredSignature: signature }),
            verificationKeys: key,
            expectSigned: true,
            format: 'binary',
          });
          await expect(result.signatures[0]!.verified, rev).resolves.toBe(true);
          const tampered = await openpgp.verify({
            message: await openpgp.createMessage({ binary: new TextEncoder().encode(`${payload}x`) }),
            signature: await openpgp.readSignature({ armoredSignature: signature }),
            verificationKeys: key,
            format: 'binary',
          });
          await expect(tampered.signatures[0]!.verified).rejects.toThrow();
        }
      });

      it('without GnuPG, git verify-commit is answered by our own check against the card, and a forged commit fails', async () => {
        const none = { OPENPGP_CARD_AGENT_GPG: 'none' };
        const raw = ok(await git(ws, ['verify-commit', '--raw', 'HEAD'], none), 'verify-commit (ours)');
        expect(raw.stderr).toContain(`[GNUPG:] VALIDSIG ${fingerprint} `);
        expect(raw.stderr).toContain(`[GNUPG:] GOODSIG ${fingerprint.slice(-16)} ${UID}`);
        // The same signature on another message: a commit object written by hand.
        const commit = ok(await git(ws, ['cat-file', 'commit', 'HEAD']), 'cat-file').stdout.replace('second, by fingerprint', 'a forged message');
        const forgedFile = join(ws.dir, 'forged');
        await writeFile(forgedFile, commit);
        const forged = ok(await git(ws, ['hash-object', '-t', 'commit', '-w', forgedFile]), 'hash-object').stdout.trim();
        const mine = await git(ws, ['verify-commit', '--raw', forged], none);
        expect(mine.code).not.toBe(0);
        expect(mine.stderr).toContain('[GNUPG:] BADSIG ');
        const theirs = await git(ws, ['verify-commit', '--raw', forged]);
        expect(theirs.code).not.toBe(0);
        expect(theirs.stderr).toContain('[GNUPG:] BADSIG ');
        // A signature by a key no plugged card has (GnuPG's, from the fixtures): ERRSIG and NO_PUBKEY, exit 2.
        const fixtures = join(REPO_ROOT, 'fixtures/openpgp/gnupg-2.2.40');
        const other = await runProgram(GPG_SHIM, ['--status-fd=1', '--verify', join(fixtures, 'ed.sig.asc'), '-'], { env: { ...ws.env, ...none }, input: await readFile(join(fixtures, 'payload.txt'), 'utf8') });
        expect(other.code).toBe(2);
        expect(other.stdout).toContain('[GNUPG:] ERRSIG 2712C2E53ACA43F5 22 8 00 ');
        expect(other.stdout).toContain('[GNUPG:] NO_PUBKEY 2712C2E53ACA43F5');
      });
    });
  }
});

describeWithTools('remote workspace: ssh -A into sshd, git commit -S in the remote shell, under --forwarded', [SSHD, SSH, SSH_ADD, GPG, GPGCONF, GIT], () => {
  let sshd: Sshd;
  let ws: Workspace;
  let agent: AgentProcess;
  let confirm: Awaited<ReturnType<typeof confirmScript>>;
  let ident: string;

  /** Restarts the daemon on the workspace's card (same state file) with these arguments; its HOME names sshd "build-box". */
  async function restartAgent(args: readonly string[]): Promise<void> {
    await agent.stop();
    agent = await AgentProcess.start({
      socketPath: ws.agent.socketPath,
      args: ['--simulate', '--simulate-algo', 'ed25519', '--simulate-state', ws.state, '--no-notify', '-a', ws.agent.socketPath, ...args],
      env: { HOME: ws.dir, ...confirm.env },
    });
  }

  /** `git commit -S` (and, when it worked, verify-commit) in a remote shell reached with ssh -A. */
  async function remoteCommit(message: string, extra: readonly string[] = []): Promise<RunResult> {
    const remote = [
      // sshd gives the session its own PATH and HOME; the workspace's dotfiles would set these.
      `export PATH=${q(dirname(process.execPath))}:$PATH`,
      `export GNUPGHOME=${q(join(ws.dir, 'gnupg'))} OPENPGP_CARD_AGENT_CERTIFICATES=${q(join(ws.dir, 'certs'))}`,
      `export GIT_CONFIG_GLOBAL=${q(join(ws.dir, 'gitconfig'))} GIT_CONFIG_NOSYSTEM=1`,
      `cd ${q(ws.repo)}`,
      ...extra,
      `git commit -q -S --allow-empty -m ${q(message)}`,
      'git verify-commit HEAD',
      'echo "remote SSH_AUTH_SOCK=$SSH_AUTH_SOCK"',
    ].join(' && ');
    return sshLogin({ port: sshd.port, agentSocket: agent.socketPath, extraArgs: ['-A'], command: remote });
  }

  beforeAll(async () => {
    requireBuild();
    sshd = await Sshd.start();
    ws = await startWorkspace('ed25519');
    agent = ws.agent;
    confirm = await confirmScript(ws.dir);
    const keyLine = ok(await runProgram(SSH_ADD, ['-L'], { env: ws.env }), 'ssh-add -L').stdout.trim();
    ident = keyLine.split(' ')[2]!;
    await sshd.authorize(keyLine);
    // known_hosts of the daemon's HOME names the server in prompts and logs.
    const hostKey = (await readFile(join(sshd.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    await mkdir(join(ws.dir, '.ssh'), { recursive: true });
    await writeFile(join(ws.dir, '.ssh', 'known_hosts'), `build-box ${hostKey}\n`);
    // The remote side has only the certificate (public), like a workspace whose dotfiles carry it.
    await signingRepository(ws);
    await restartAgent([]);
  });

  afterAll(async () => {
    await runProgram(GPGCONF, ['--kill', 'all'], { env: ws?.env });
    await agent?.stop();
    await sshd?.stop();
    await cleanupSystem();
  });

  it('confirm (the default), answered yes: the remote git signs through the forwarded agent; the commit verifies there and here', async () => {
    await confirm.answer('yes');
    const r = await remoteCommit('signed in the remote workspace');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // The remote shell reached the card through sshd's forwarding socket, not ours.
    const sock = /remote SSH_AUTH_SOCK=(\S+)/.exec(r.stdout)?.[1];
    expect(sock).toBeDefined();
    expect(sock).not.toBe(agent.socketPath);
    expect(r.stderr).toContain('Good signature from "Card Tester <card@example.org>"');
    const log = ok(await git(ws, ['log', '-1', '--format=%G? %s']), 'git log').stdout.trim();
    expect(log).toBe('G signed in the remote workspace');
    // The agent signed it: its log has the OpenPGP signature, marked as a git commit.
    expect(agent.logLines().some((l) => l['msg'] === 'OpenPGP signature made' && l['purpose'] === 'git commit')).toBe(true);
    // One question, for the commit (the login itself is not forwarded), naming the host.
    const asked = await confirm.prompts();
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain(`Allow card ${ident} to sign a git commit for build-box?`);
    expect(asked[0]).toContain('Path: this computer → build-box');
    expect(asked[0]).toMatch(/Forwarded by: ssh \(pid \d+, uid 0\)/);
  });

  it('confirm, answered no: git commit -S fails in the remote shell and no commit is made', async () => {
    await confirm.answer('no');
    const before = ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim();
    const r = await remoteCommit('must not be signed');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('gpg failed to sign the data');
    expect(ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim()).toBe(before);
    expect(await confirm.prompts()).toHaveLength(2);
    expect(agent.logLines().some((l) => l['msg'] === 'forwarded signature request not confirmed by the user' && l['path'] === 'this computer → build-box')).toBe(true);
  });

  it('--forwarded deny: the remote sees no OpenPGP key and cannot sign; the login and local signing go on', async () => {
    await restartAgent(['--forwarded', 'deny']);
    await confirm.answer('yes');
    const before = ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim();
    const listed = await sshLogin({ port: sshd.port, agentSocket: agent.socketPath, extraArgs: ['-A'], command: `PATH=${q(dirname(process.execPath))}:$PATH ${q(GPG_SHIM)} -K` });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe('No card with an OpenPGP signature key.\n');
    const r = await remoteCommit('must not be signed either');
    expect(r.code).not.toBe(0);
    expect(ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim()).toBe(before);
    // Nobody was asked: deny needs no answer.
    expect(await confirm.prompts()).toHaveLength(2);
    ok(await git(ws, ['commit', '-q', '-S', '--allow-empty', '-m', 'signed here, on this computer']), 'local git commit -S');
    ok(await git(ws, ['verify-commit', 'HEAD']), 'git verify-commit');
  });

  it('ssh-add -h build-box: the login to build-box works, but the card signs no commit there; here it does', async () => {
    await restartAgent(['--forwarded', 'allow']);
    const pin = join(ws.dir, 'pin.sh');
    await writeFile(pin, '#!/bin/sh\necho 123456\n', { mode: 0o700 });
    const added = await runProgram(SSH_ADD, ['-H', join(ws.dir, '.ssh', 'known_hosts'), '-h', 'build-box', '-s', ident], {
      env: { ...ws.env, SSH_ASKPASS: pin, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    });
    expect(added.code, added.stderr).toBe(0);
    const before = ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim();
    const r = await remoteCommit('must not be signed by a restricted card');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('gpg failed to sign the data');
    expect(ok(await git(ws, ['rev-parse', 'HEAD']), 'rev-parse').stdout.trim()).toBe(before);
    // The forwarded connection does not even see the card's keys (as ssh-add -L there would not).
    expect(agent.logLines().some((l) => l['msg'] === 'destination-constrained key hidden' && l['path'] === 'this computer → build-box')).toBe(true);
    ok(await git(ws, ['commit', '-q', '-S', '--allow-empty', '-m', 'signed here by the restricted card']), 'local git commit -S');
    ok(await git(ws, ['verify-commit', 'HEAD']), 'git verify-commit');
  });
});
