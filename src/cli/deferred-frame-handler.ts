import type { ConnectionContext, FrameHandler } from '../server/frame-handler.js';

/** SSH_AGENT_FAILURE (draft-miller-ssh-agent §3.1): the whole reply body. */
const FAILURE_BODY = Uint8Array.of(5);

/**
 * The agent behind the socket before it is loaded. The daemon listens first and imports the
 * agent core (protocol codecs, node:crypto) right after; a frame that arrives in between waits
 * for it. If the agent cannot be loaded, every frame is answered SSH_AGENT_FAILURE.
 */
export class DeferredFrameHandler implements FrameHandler {
  readonly #ready: Promise<FrameHandler | undefined>;
  #handler: FrameHandler | undefined;
  #settle!: (h: FrameHandler | undefined) => void;

  constructor() {
    this.#ready = new Promise((resolve) => (this.#settle = resolve));
  }

  resolve(handler: FrameHandler): void {
    this.#handler = handler;
    this.#settle(handler);
  }

  /** The agent will not come: answer failure from now on. */
  fail(): void {
    this.#settle(undefined);
  }

  async handleFrame(body: Uint8Array, conn: ConnectionContext): Promise<Uint8Array | null> {
    const h = this.#handler ?? (await this.#ready);
    return h === undefined ? FAILURE_BODY : h.handleFrame(body, conn);
  }

  connectionClosed(conn: ConnectionContext): void {
    // A connection that closed before the agent was loaded left nothing in it to clean up.
    this.#handler?.connectionClosed?.(conn);
  }
}
