import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getLogger, type Logger } from '../log.js';

/** Where OpenSSH (as Debian and Fedora build it) looks when SSH_ASKPASS is unset. */
export const DEFAULT_ASKPASS_PATHS = ['/usr/bin/ssh-askpass', '/usr/lib/ssh/ssh-askpass', '/usr/libexec/openssh/ssh-askpass'] as const;

export const DEFAULT_CONFIRM_TIMEOUT_MS = 60_000;

export interface ConfirmOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
  /** A question unanswered for this long is a no (the askpass program is killed). */
  readonly timeoutMs?: number;
  /** Looked at, in order, when SSH_ASKPASS is unset. */
  readonly defaultPaths?: readonly string[];
}

/** The askpass program to run, or why there is none. Follows OpenSSH's read_passphrase(). */
export function askpassProgram(env: NodeJS.ProcessEnv, defaultPaths: readonly string[] = DEFAULT_ASKPASS_PATHS): { program: string } | { refused: string } {
  const require = (env['SSH_ASKPASS_REQUIRE'] ?? '').toLowerCase();
  if (require === 'never') return { refused: 'SSH_ASKPASS_REQUIRE=never' };
  const display = (env['DISPLAY'] ?? '') !== '' || (env['WAYLAND_DISPLAY'] ?? '') !== '';
  if (!display && require !== 'force') return { refused: 'neither DISPLAY nor WAYLAND_DISPLAY is set (set SSH_ASKPASS_REQUIRE=force to ask anyway)' };
  const set = env['SSH_ASKPASS'];
  if (set !== undefined && set !== '') return { program: set };
  const found = defaultPaths.find((p) => existsSync(p));
  return found === undefined ? { refused: 'SSH_ASKPASS is not set and no ssh-askpass is installed' } : { program: found };
}

/**
 * Asks the user to allow one use of a key (ssh-add -c) the way OpenSSH's ssh-agent does
 * (readpass.c ask_permission): runs `$SSH_ASKPASS <message>` with SSH_ASKPASS_PROMPT=confirm.
 * Yes = exit status 0 and an answer that is empty or "yes" (ssh-askpass in confirm mode prints
 * nothing on OK). Anything else — no way to ask, the program failing, a timeout — is a no, logged.
 * Never rejects.
 */
export function confirm(message: string, opts: ConfirmOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? getLogger('notify');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  const how = askpassProgram(env, opts.defaultPaths);
  if ('refused' in how) {
    log.warn({ reason: how.refused }, 'confirmation needed but there is no way to ask the user; refusing');
    return Promise.resolve(false);
  }
  return new Promise<boolean>((resolve) => {
    let answer = '';
    let done = false;
    const finish = (yes: boolean, why?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (why !== undefined) log.warn({ askpass: how.program, reason: why }, 'confirmation refused');
      else log.debug({ askpass: how.program, allowed: yes }, 'confirmation answered');
      resolve(yes);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(how.program, [message], { env: { ...env, SSH_ASKPASS_PROMPT: 'confirm' }, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (err) {
      log.warn({ askpass: how.program, err: (err as Error).message }, 'SSH_ASKPASS could not be run; refusing');
      resolve(false);
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(false, `no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (answer.length < 1024) answer += s;
    });
    child.once('error', (err) => finish(false, `could not run: ${err.message}`));
    child.once('close', (code, signal) => {
      if (code !== 0) return finish(false, signal === null ? `exit status ${code}` : `killed by ${signal}`);
      const reply = answer.split(/[\r\n]/)[0] ?? '';
      if (reply === '' || reply.toLowerCase() === 'yes') return finish(true);
      finish(false, 'the answer was not empty or "yes"');
    });
  });
}
