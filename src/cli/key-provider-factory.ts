import type { Agent } from '../agent/agent.js';
import type { Logger } from '../log.js';

/** What the Agent takes as its key source (cards, later also a simulator). */
export type KeyProvider = NonNullable<NonNullable<ConstructorParameters<typeof Agent>[0]>['keys']>;

/** The daemon's settings a key provider may depend on. Grows with the daemon's options. */
export interface KeyProviderOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
}

/**
 * Builds the daemon's key provider. The one place where cards (PC/SC), the simulator and their
 * options get wired in; for now there is none, and the agent answers with no identities.
 */
export async function createKeyProvider(_options: KeyProviderOptions): Promise<KeyProvider | undefined> {
  return undefined;
}
