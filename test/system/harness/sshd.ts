import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { cleanEnv, makeTempDir, runProgram, type RunResult } from './agent-process.js';

export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';
export const SSH_ADD = '/usr/bin/ssh-add';
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** The first of `tools` that is missing or not executable, or undefined if all are there. */
export function missingTool(tools: readonly string[]): string | undefined {
  for (const t of tools) {
    try {
      accessSync(t, constants.X_OK);
    } catch {
      return t;
    }
  }
  return undefined;
}

/**
 * describe() for tests that need external programs: when one is missing, the suite fails in CI
 * (CI=true) and is skipped elsewhere, with the reason in its title.
 */
export function describeWithTools(title: string, tools: readonly string[], body: () => void): void {
  const missing = missingTool(tools);
  if (missing === undefined) {
    describe(title, body);
  } else if (process.env['CI'] === 'true') {
    describe(title, () => {
      it(`needs ${missing}`, () => {
        throw new Error(`${missing} is not installed (required in CI)`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${missing} is not installed)`, body);
  }
}

/** A TCP port nobody listens on right now, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway key pair made by ssh-keygen: `path` (private), `path.pub`, and the public line. */
export async function makeKeyPair(dir: string, name = 'id_ed25519', type = 'ed25519'): Promise<{ path: string; publicLine: string }> {
  const path = join(dir, name);
  const r = await runProgram(SSH_KEYGEN, ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', path]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  const pub = await runProgram('/bin/cat', [`${path}.pub`]);
  return { path, publicLine: pub.stdout.trim() };
}

/**
 * A real OpenSSH server in the foreground (`sshd -D -e`) on 127.0.0.1 and a free port, with a
 * temp host key and config, accepting root by public key from a temp authorized_keys file.
 */
export class Sshd {
  readonly port: number;
  readonly dir: string;
  readonly authorizedKeysFile: string;
  readonly #child: ChildProcess;
  #log = '';
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, port: number, dir: string, log: () => string) {
    this.#child = child;
    this.port = port;
    this.dir = dir;
    this.authorizedKeysFile = join(dir, 'authorized_keys');
    this.#log = log();
    child.stderr?.on('data', (s: string) => (this.#log += s));
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** sshd's log so far (-e sends it to stderr). */
  get log(): string {
    return this.#log;
  }

  static async start(): Promise<Sshd> {
    // sshd insists on its privilege-separation directory.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const dir = await makeTempDir('oca-sshd-');
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const keygen = await runProgram(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    if (keygen.code !== 0) throw new Error(`ssh-keygen (host key) failed: ${keygen.stderr}`);
    await writeFile(join(dir, 'authorized_keys'), '', { mode: 0o600 });
    let lastError = '';
    // The free port may be taken between probing and binding; try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = join(dir, 'sshd_config');
      await writeFile(
        config,
        [
          'ListenAddress 127.0.0.1',
          `Port ${port}`,
          `HostKey ${hostKey}`,
          'PidFile none',
          'PermitRootLogin prohibit-password',
          'UsePAM no',
          'StrictModes no',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PubkeyAuthentication yes',
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          // Concurrent-login tests open many connections at once; the default (10:30:100) drops some.
          'MaxStartups 100:30:200',
          'LogLevel VERBOSE',
          '',
        ].join('\n'),
      );
      const child = spawn(SSHD, ['-D', '-e', '-f', config], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.setEncoding('utf8');
      let log = '';
      const ready = await new Promise<boolean>((resolve) => {
        const onData = (s: string): void => {
          log += s;
          if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
            child.stderr.off('data', onData);
            resolve(true);
          }
        };
        child.stderr.on('data', onData);
        child.once('exit', () => resolve(false));
        setTimeout(() => resolve(false), 15_000).unref();
      });
      if (ready) return new Sshd(child, port, dir, () => log);
      child.kill('SIGKILL');
      lastError = log;
    }
    throw new Error(`sshd did not start:\n${lastError}`);
  }

  /** Replaces the authorized_keys file with these public key lines. */
  async authorize(...publicLines: string[]): Promise<void> {
    await writeFile(this.authorizedKeysFile, publicLines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill('SIGTERM');
    await this.#exited;
  }
}

/** Options for ssh in tests: no user config, no host key checks or prompts, quiet. */
export const SSH_BATCH_OPTIONS: readonly string[] = [
  '-F', '/dev/null',
  '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'BatchMode=yes',
  '-o', 'ConnectTimeout=10',
  '-o', 'LogLevel=ERROR',
];

export interface SshLoginOptions {
  readonly port: number;
  /** Offer the keys of the agent on this socket. */
  readonly agentSocket?: string;
  /** Use this private key file instead of an agent. */
  readonly identityFile?: string;
  readonly command?: string;
  readonly extraArgs?: readonly string[];
}

/**
 * `ssh ... -p PORT root@127.0.0.1 true` in batch mode, no host key checks and no user config.
 * With an agent socket, only the agent's keys are offered: IdentityFile points nowhere, which
 * also keeps ssh from trying ~/.ssh/id_* on the machine running the tests.
 */
export function sshLogin(opts: SshLoginOptions): Promise<RunResult> {
  const args = [...SSH_BATCH_OPTIONS, '-p', String(opts.port)];
  if (opts.identityFile !== undefined) {
    args.push('-o', 'IdentityAgent=none', '-o', 'IdentitiesOnly=yes', '-i', opts.identityFile);
  } else {
    args.push('-o', `IdentityAgent=${opts.agentSocket ?? 'none'}`, '-o', 'IdentityFile=/nonexistent/oca-no-key');
  }
  args.push(...(opts.extraArgs ?? []), 'root@127.0.0.1', opts.command ?? 'true');
  return runProgram(SSH, args, { env: cleanEnv(), timeoutMs: 30_000 });
}
