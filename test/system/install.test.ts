import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { PcscSandbox, describeWithSandbox } from './harness/pcsc-sandbox.js';
import { SSH, SSHD, SSH_ADD, Sshd, sshLogin } from './harness/sshd.js';

/** What a machine without build tools lacks: no C compiler, no make, no python for node-gyp. */
const BUILD_TOOLS = /^(cc|c\+\+|cpp.*|gcc.*|g\+\+.*|clang.*|make|gmake|cmake|python.*|node-gyp|ld|ld\..*|as|x86_64-linux-gnu-.*|aarch64-linux-gnu-.*)$/;

/** A PATH directory with every program of /usr/local/bin, /usr/bin and /bin except the build tools. */
async function pathWithoutCompilers(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const seen = new Set<string>();
  for (const d of ['/usr/local/bin', '/usr/bin', '/bin']) {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      if (BUILD_TOOLS.test(name) || seen.has(name)) continue;
      seen.add(name);
      await symlink(join(d, name), join(bin, name));
    }
  }
  return bin;
}

/**
 * `npm pack`, then `npm install -g` of the tarball on a PATH with no compiler, make or python
 * (as on a laptop without build tools): the install works (PC/SC comes through koffi's prebuilt
 * binaries), and the installed command logs in over ssh with a card in a PC/SC sandbox.
 */
describeWithSandbox('npm pack + npm install -g with no compiler on PATH, then an ssh login through a card', [SSHD, SSH, SSH_ADD], () => {
  let dir: string;
  let bin: string;
  let prefix: string;
  let sandbox: PcscSandbox;
  let sshd: Sshd;

  beforeAll(async () => {
    dir = await makeTempDir('oca-install-');
    bin = await pathWithoutCompilers(dir);
    prefix = join(dir, 'prefix');
    sandbox = await PcscSandbox.start();
    await sandbox.card(0, 'install-card', '--algo', 'ed25519');
    sshd = await Sshd.start();
  });

  afterAll(async () => {
    await sshd?.stop();
    await sandbox?.stop();
    await cleanupSystem();
  });

  it('installs from the packed tarball with no build tools, and the installed command signs an ssh login', async () => {
    const env = { ...cleanEnv(), PATH: bin };
    const none = await runProgram('/bin/sh', ['-c', 'command -v cc gcc g++ make python3 node-gyp'], { env });
    expect(none.stdout).toBe('');
    expect(none.code).not.toBe(0);

    // dist/ is built by `npm test` before the system tests; --ignore-scripts keeps it as it is.
    const pack = await runProgram('npm', ['pack', REPO_ROOT, '--ignore-scripts', '--pack-destination', dir], { env: { ...process.env }, timeoutMs: 120_000 });
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
    const install = await runProgram(join(bin, 'npm'), ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      env: { ...process.env, PATH: bin },
      timeoutMs: 300_000,
    });
    expect(install.code, install.stderr).toBe(0);
    const cli = join(prefix, 'bin', 'openpgp-card-agent');
    const help = await runProgram(cli, ['--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('An ssh-agent whose keys live on OpenPGP smartcards');

    const socket = join(dir, 'agent.sock');
    const agent = spawn(cli, ['--no-notify', '-a', socket], { env: { ...env, ...sandbox.env() }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    try {
      const agentEnv = cleanEnv({ SSH_AUTH_SOCK: socket });
      let keys = '';
      for (let i = 0; i < 200 && !keys.includes('ssh-ed25519'); i++) {
        await sleep(50);
        keys = (await runProgram(SSH_ADD, ['-L'], { env: agentEnv })).stdout;
      }
      const line = keys.trim().split('\n').find((l) => l.startsWith('ssh-ed25519'));
      expect(line, stderr).toBeDefined();
      const askpass = join(dir, 'askpass');
      await writeFile(askpass, '#!/bin/sh\necho 123456\n');
      await chmod(askpass, 0o700);
      const add = await runProgram(SSH_ADD, ['-t', '600', '-s', line!.split(' ')[2]!], { env: { ...agentEnv, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } });
      expect(add.stderr).toContain('Card added');
      await sshd.authorize(line!);
      const login = await sshLogin({ port: sshd.port, agentSocket: socket, command: 'echo installed' });
      expect(login.stdout, login.stderr).toBe('installed\n');
    } finally {
      agent.kill('SIGTERM');
      await new Promise((resolve) => agent.once('exit', resolve));
    }
  });
});

