import { getLogger, type Logger } from '../log.js';
import { askpassProgram, runAskpass } from './askpass.js';

export const DEFAULT_CONFIRM_TIMEOUT_MS = 60_000;

export interface ConfirmOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
  /** A question unanswered for this long is a no (the askpass program is killed). */
  readonly timeoutMs?: number;
  /** Looked at, in order, when SSH_ASKPASS is unset. */
  readonly defaultPaths?: readonly string[];
}

/**
 * Asks the user to allow one use of a key (ssh-add -c) the way OpenSSH's ssh-agent does
 * (readpass.c ask_permission): runs `$SSH_ASKPASS <message>` with SSH_ASKPASS_PROMPT=confirm.
 * Yes = exit status 0 and an answer that is empty or "yes" (ssh-askpass in confirm mode prints
 * nothing on OK). Anything else — no way to ask, the program failing, a timeout — is a no, logged.
 * Never rejects.
 */
export async function confirm(message: string, opts: ConfirmOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? getLogger('notify');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  const how = askpassProgram(env, opts.defaultPaths);
  if ('refused' in how) {
    log.warn({ reason: how.refused }, 'confirmation needed but there is no way to ask the user; refusing');
    return false;
  }
  const result = await runAskpass(how.program, message, { env, timeoutMs, prompt: 'confirm' });
  let refused: string | undefined;
  if (result.kind === 'answered') {
    const reply = new TextDecoder().decode(result.line).split(/[\r\n]/)[0] ?? '';
    result.line.fill(0);
    if (reply !== '' && reply.toLowerCase() !== 'yes') refused = 'the answer was not empty or "yes"';
  } else {
    refused = result.kind === 'not-run' ? `could not run: ${result.error.message}` : result.reason;
  }
  if (refused !== undefined) {
    log.warn({ askpass: how.program, reason: refused }, 'confirmation refused');
    return false;
  }
  log.debug({ askpass: how.program, allowed: true }, 'confirmation answered');
  return true;
}
