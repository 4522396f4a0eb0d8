import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * Asks the user to allow one signature (ssh-add -c) the way OpenSSH's ssh-agent does: runs
 * $SSH_ASKPASS with the question and SSH_ASKPASS_PROMPT=confirm; exit status 0 means yes.
 * Without SSH_ASKPASS there is no way to ask, and the answer is no.
 */
export function askpassConfirm(env: NodeJS.ProcessEnv, log: Logger, timeoutMs = 60_000): (message: string) => Promise<boolean> {
  return (message) => {
    const askpass = env['SSH_ASKPASS'];
    if (askpass === undefined || askpass === '') {
      log.warn('confirmation needed but SSH_ASKPASS is not set; refusing the signature');
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const child = spawn(askpass, [message], { env: { ...env, SSH_ASKPASS_PROMPT: 'confirm' }, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        log.warn({ err: err.message }, 'SSH_ASKPASS could not be run; refusing the signature');
        resolve(false);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    });
  };
}
