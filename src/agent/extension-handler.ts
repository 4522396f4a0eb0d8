import type { Response } from '../protocol/messages.js';
import type { RequestContext } from './key-provider.js';

/**
 * The agent's per-card rules on the connection a request came in on, for extensions that use a
 * card's keys: the rules SSH_AGENTC_REQUEST_IDENTITIES and SSH_AGENTC_SIGN_REQUEST follow
 * (destination constraints from `ssh-add -h`, the `--forwarded` policy), so that an extension
 * cannot do through a forwarding what a plain request may not.
 */
export interface CardUsePolicy {
  /** May the card's keys be shown on this connection? As request-identities shows its SSH key. */
  mayList(ident: string): boolean;
  /**
   * May the card make a signature that is not an SSH user authentication for this connection?
   * `purpose` is what the requester says it signs ("git commit"); it names the signature in the
   * prompt that `--forwarded confirm` shows. A refusal is logged here, with the reason.
   */
  maySign(ident: string, purpose: string): Promise<boolean>;
}

/**
 * Serves one private agent extension (draft-miller-ssh-agent §3.8) by name: gets the bytes after
 * the extension name, answers with a reply. A handler answers SSH_AGENT_EXTENSION_FAILURE itself
 * when it understood the request but could not serve it.
 */
export type ExtensionHandler = (contents: Uint8Array, ctx: RequestContext, policy: CardUsePolicy) => Promise<Response>;
