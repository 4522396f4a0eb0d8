import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A private GnuPG home whose gpg-agent (with ssh support) and scdaemon use cards over pcscd in
 * shared mode, with a scripted pinentry that answers the card's User PIN: GnuPG as an
 * independent host of our virtual card, and as the baseline the benchmark compares with.
 * gpg starts gpg-agent and gpg-agent starts scdaemon, each with its parent's environment: give
 * `baseEnv` a sandbox's PCSCLITE_CSOCK_NAME and scdaemon uses that pcscd.
 */
export class GnupgHome {
  private constructor(readonly dir: string, readonly env: NodeJS.ProcessEnv) {}

  /**
   * `pin` answers every PIN question; `{ user, admin }` answers the Admin PIN question (gpg-agent
   * prompts "Admin PIN" for it, as for `gpg --card-edit` generate) with `admin`, the others with `user`.
   */
  static async create(pin: string | { readonly user: string; readonly admin: string }, baseEnv: NodeJS.ProcessEnv = process.env): Promise<GnupgHome> {
    const dir = await mkdtemp(join(tmpdir(), 'oca-gpg-'));
    await chmod(dir, 0o700);
    const pinentry = join(dir, 'pinentry-scripted');
    const { user, admin } = typeof pin === 'string' ? { user: pin, admin: pin } : pin;
    // A pinentry speaking just enough Assuan: OK to everything, the PIN its prompt asks for to GETPIN.
    await writeFile(
      pinentry,
      `#!/bin/sh\necho "OK scripted pinentry"\nprompt=""\nwhile read -r cmd rest; do\n  case "$cmd" in\n    SETPROMPT) prompt="$rest"; echo OK ;;\n    GETPIN) case "$prompt" in *Admin*) echo "D ${admin}" ;; *) echo "D ${user}" ;; esac; echo OK ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n`,
    );
    await chmod(pinentry, 0o700);
    await writeFile(join(dir, 'scdaemon.conf'), ['disable-ccid', 'pcsc-shared', 'pcsc-driver libpcsclite.so.1', ''].join('\n'));
    await writeFile(join(dir, 'gpg-agent.conf'), ['enable-ssh-support', `pinentry-program ${pinentry}`, 'no-grab', ''].join('\n'));
    const env: NodeJS.ProcessEnv = { ...baseEnv, GNUPGHOME: dir };
    delete env['SSH_AUTH_SOCK'];
    return new GnupgHome(dir, env);
  }

  /** gpg --card-status output (reads the card through scdaemon). */
  async cardStatus(): Promise<string> {
    const r = await run('gpg', ['--batch', '--card-status'], { env: this.env, timeout: 60_000 });
    return r.stdout;
  }

  /** Starts gpg-agent and has it learn the card, so its ssh side offers the card's key. */
  async startAgent(): Promise<string> {
    await run('gpgconf', ['--launch', 'gpg-agent'], { env: this.env });
    await run('gpg-connect-agent', ['learn --force', '/bye'], { env: this.env, timeout: 60_000 });
    const r = await run('gpgconf', ['--list-dirs', 'agent-ssh-socket'], { env: this.env });
    return r.stdout.trim();
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const p = spawn('gpgconf', ['--kill', 'all'], { env: this.env, stdio: 'ignore' });
      p.once('exit', () => resolve());
      p.once('error', () => resolve());
    });
    await rm(this.dir, { recursive: true, force: true });
  }
}
