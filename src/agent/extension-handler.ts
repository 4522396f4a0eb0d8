import type { Response } from '../protocol/messages.js';
import type { RequestContext } from './key-provider.js';

/**
 * Serves one private agent extension (draft-miller-ssh-agent §3.8) by name: gets the bytes after
 * the extension name, answers with a reply. A handler answers SSH_AGENT_EXTENSION_FAILURE itself
 * when it understood the request but could not serve it.
 */
export type ExtensionHandler = (contents: Uint8Array, ctx: RequestContext) => Promise<Response>;
