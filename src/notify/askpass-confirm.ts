import type { Logger } from '../log.js';
import { confirm, DEFAULT_CONFIRM_TIMEOUT_MS } from './confirm.js';

/** confirm() bound to an environment and a logger, in the shape the card key provider takes. */
export function askpassConfirm(env: NodeJS.ProcessEnv, log: Logger, timeoutMs = DEFAULT_CONFIRM_TIMEOUT_MS): (message: string) => Promise<boolean> {
  return (message) => confirm(message, { env, log, timeoutMs });
}
