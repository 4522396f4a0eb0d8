import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copySecretBytes } from '../secret.js';

/** Where OpenSSH (as Debian and Fedora build it) looks when SSH_ASKPASS is unset. */
export const DEFAULT_ASKPASS_PATHS = ['/usr/bin/ssh-askpass', '/usr/lib/ssh/ssh-askpass', '/usr/libexec/openssh/ssh-askpass'] as const;

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

/** Output of an askpass program read at most (a PIN or a yes fits many times over); the rest is zeroed unread. */
const MAX_OUTPUT_BYTES = 4096;

/**
 * How one run of the askpass program ended: its first line of output on exit status 0 (without
 * the line end; an off-heap copy the caller zeroes); no answer (exit status non-zero, killed, or
 * no answer in time: the program is killed); or the program could not be run at all.
 */
export type AskpassResult =
  | { readonly kind: 'answered'; readonly line: Uint8Array }
  | { readonly kind: 'no-answer'; readonly reason: string }
  | { readonly kind: 'not-run'; readonly error: Error };

export interface AskpassRun {
  readonly env: NodeJS.ProcessEnv;
  /** A question unanswered for this long is no answer (the program is killed). */
  readonly timeoutMs: number;
  /** 'confirm': a yes/no question (SSH_ASKPASS_PROMPT=confirm); 'passphrase': a secret is typed (SSH_ASKPASS_PROMPT unset). */
  readonly prompt: 'confirm' | 'passphrase';
}

/**
 * Runs `program text` as OpenSSH's read_passphrase() runs SSH_ASKPASS, with stdin and stderr
 * closed. What it prints is kept in buffers that are zeroed once the first line is copied out
 * (it may be a PIN). Never rejects.
 */
export function runAskpass(program: string, text: string, run: AskpassRun): Promise<AskpassResult> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...run.env };
    if (run.prompt === 'confirm') env['SSH_ASKPASS_PROMPT'] = 'confirm';
    else delete env['SSH_ASKPASS_PROMPT'];
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(program, [text], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (err) {
      resolve({ kind: 'not-run', error: err as Error });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: AskpassResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const c of chunks) c.fill(0);
      resolve(result);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ kind: 'no-answer', reason: `no answer within ${run.timeoutMs} ms` });
    }, run.timeoutMs);
    timer.unref();
    child.stdout!.on('data', (c: Buffer) => {
      if (!done && size < MAX_OUTPUT_BYTES) {
        chunks.push(c);
        size += c.length;
      } else c.fill(0);
    });
    child.once('error', (err) => finish({ kind: 'not-run', error: err }));
    child.once('close', (code, signal) => {
      if (done) return;
      if (code !== 0) {
        finish({ kind: 'no-answer', reason: signal === null ? `exit status ${code}` : `killed by ${signal}` });
        return;
      }
      const all = Buffer.concat(chunks);
      let end = all.indexOf(0x0a);
      if (end < 0) end = all.length;
      if (end > 0 && all[end - 1] === 0x0d) end--;
      const line = copySecretBytes(all.subarray(0, end));
      all.fill(0);
      finish({ kind: 'answered', line });
    });
  });
}
