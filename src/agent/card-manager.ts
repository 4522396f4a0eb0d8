import { EventEmitter } from 'node:events';
import { CardSession } from '../card/card-session.js';
import type { PcscMonitor } from '../card/pcsc/pcsc-monitor.js';
import type { CardTransport } from '../card/transport.js';
import { AgentError, CardBusyError, CardRemovedError } from '../errors.js';
import type { Logger } from '../log.js';
import { normalizeIdent } from './forwarding-policy.js';

export interface CardManagerEvents {
  added: [CardSession];
  removed: [CardSession];
}

export interface CardManagerOptions {
  readonly log: Logger;
  /** Trace APDUs (PIN data blanked) at trace level. */
  readonly traceApdus?: boolean;
  /** How soon to try again a card that another program holds exclusively. */
  readonly busyRetryMs?: number;
}

/**
 * The plugged cards: one CardSession per reader that holds an OpenPGP card. Cards come from
 * the PC/SC reader monitor (or the simulator); attaching opens the session (SELECT, 6E, the
 * authentication key), detaching closes it. A card pulled out while it is being attached is
 * never registered.
 */
export class CardManager extends EventEmitter<CardManagerEvents> {
  private readonly sessions = new Map<string, CardSession>();
  /** Bumped per reader at every insert and removal: an attach that finds it changed is stale. */
  private readonly epochs = new Map<string, number>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly log: Logger;

  constructor(private readonly options: CardManagerOptions) {
    super();
    this.log = options.log;
  }

  list(): CardSession[] {
    return [...this.sessions.values()];
  }

  /** ssh-add -s/-e name a card by ident ("0006:12345678"); case and a "cardno:" prefix don't matter. */
  findByIdent(ident: string): CardSession | undefined {
    const want = normalizeIdent(ident);
    return this.list().find((s) => normalizeIdent(s.ident) === want);
  }

  /**
   * Opens the card in `reader` over the transport `connect` gives. Answers the session, or
   * undefined when the card left (or was replaced) while it was being opened.
   */
  async attach(reader: string, connect: () => Promise<CardTransport>): Promise<CardSession | undefined> {
    const epoch = this.bump(reader);
    void this.dropSession(reader);
    const work = (async () => {
      const transport = await connect();
      let session: CardSession;
      try {
        const trace = this.options.traceApdus === true && this.log.isLevelEnabled('trace');
        session = await CardSession.open(reader, transport, {
          log: this.log,
          ...(trace ? { tracer: (direction: 'command' | 'response', bytes: Uint8Array) => this.log.trace({ reader, direction, apdu: Buffer.from(bytes).toString('hex') }, 'apdu') } : {}),
        });
      } catch (err) {
        await transport.close().catch(() => undefined);
        throw err;
      }
      if (this.epochs.get(reader) !== epoch) {
        // Pulled out (or swapped) while we were reading it.
        this.log.info({ reader }, 'card left the reader while it was being attached; not used');
        await session.close().catch(() => undefined);
        return undefined;
      }
      this.sessions.set(reader, session);
      const snap = session.snapshot;
      if (snap.authKeyProblem === undefined) this.log.info({ ident: session.ident, reader }, 'card added');
      else this.log.warn({ ident: session.ident, reader, reason: snap.authKeyProblem }, 'card added, but its authentication key cannot be used');
      this.emit('added', session);
      return session;
    })();
    this.inFlight.add(work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  /** The card in `reader` is gone (removed, or its reader or pcscd went away). */
  detach(reader: string): Promise<void> {
    this.bump(reader);
    const t = this.retries.get(reader);
    if (t !== undefined) clearTimeout(t);
    this.retries.delete(reader);
    return this.dropSession(reader);
  }

  private bump(reader: string): number {
    const n = (this.epochs.get(reader) ?? 0) + 1;
    this.epochs.set(reader, n);
    return n;
  }

  private dropSession(reader: string): Promise<void> {
    const s = this.sessions.get(reader);
    if (s === undefined) return Promise.resolve();
    this.sessions.delete(reader);
    this.log.info({ ident: s.ident, reader }, 'card removed');
    const closed = s.close().catch(() => undefined);
    this.emit('removed', s);
    return closed;
  }

  /**
   * Follows the reader monitor: each card that appears is attached (again after a pull and
   * push), each that leaves is detached. A card another program holds exclusively is tried
   * again while it stays in the reader; one that is not an OpenPGP card is logged and ignored.
   */
  follow(monitor: PcscMonitor, connect: (reader: string) => Promise<CardTransport>): void {
    const tryAttach = (reader: string): void => {
      this.retries.delete(reader);
      this.attach(reader, () => connect(reader)).catch((err: unknown) => {
        if (err instanceof CardBusyError) {
          this.log.warn({ reader }, err.message);
          const timer = setTimeout(() => tryAttach(reader), this.options.busyRetryMs ?? 1000);
          timer.unref();
          this.retries.set(reader, timer);
        } else if (err instanceof CardRemovedError) {
          this.log.debug({ reader }, 'card left before it could be read');
        } else {
          this.log.warn({ reader, err: err instanceof Error ? err.message : String(err) }, 'card not used: not an OpenPGP card, or it did not answer');
        }
      });
    };
    monitor.on('card-inserted', (reader) => tryAttach(reader));
    monitor.on('card-removed', (reader) => void this.detach(reader));
  }

  /** Resolves when the attaches under way have finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** Lets every card go and waits until their connections are closed (bounded by the transports). */
  async closeAll(): Promise<void> {
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    await Promise.all([...this.sessions.keys()].map((reader) => this.detach(reader)));
  }
}

/** An unknown ident names the plugged ones, so the user can correct it. */
export class UnknownCardError extends AgentError {
  override readonly code = 'E_UNKNOWN_CARD';
}
