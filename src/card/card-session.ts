import { setTimeout as sleep } from 'node:timers/promises';
import { CardResetError, ForeignApplicationError, ReferencedDataNotFoundError, UnsupportedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Secret } from '../secret.js';
import { equalBytes } from '../wire/bytes.js';
import type { ApduTracer } from './iso7816/channel.js';
import type { ApplicationData } from './openpgp/application-data.js';
import { OpenPgpCard, PW1_81, PW1_82 } from './openpgp/openpgp-card.js';
import type { CardKey } from './openpgp/public-key.js';
import { SerialQueue } from './serial-queue.js';
import type { CardTransport } from './transport.js';

/**
 * A PC/SC transaction outlives its operation by LINGER_MS when nothing else of ours is queued, so
 * a burst of operations (a loop of logins, concurrent clients) shares one transaction instead of
 * paying SCardBeginTransaction and SCardEndTransaction each time. It is never kept longer than
 * HOLD_MAX_MS in all, and after such a long one the card is left alone for BREATHER_MS: pcsc-lite
 * lets a waiting application look for a free card only every 100 ms (PCSCLITE_LOCK_POLL_RATE),
 * so under a sustained burst GnuPG would otherwise hardly ever get its turn; the pause is short,
 * as it costs our throughput that much (2 ms in 27: about 7 %).
 */
const LINGER_MS = 3;
const HOLD_MAX_MS = 25;
const BREATHER_MS = 2;

/** What the session believes of a PIN's verified state on the card. */
export type PinState = 'verified' | 'not-verified' | 'unknown';

/** What was read from the card, kept until something may have changed it. */
export interface CardSnapshot {
  readonly applicationData: ApplicationData;
  /** The authentication key, or undefined when the slot is empty. */
  readonly authKey: CardKey | undefined;
  /** Why the authentication key could not be read, when it could not. */
  readonly authKeyProblem: string | undefined;
  /** Counts the reads: a new number means the keys may be new too. */
  readonly generation: number;
}

/** What an operation gets to work with, inside the card's queue and PC/SC transaction. */
export interface SessionContext {
  readonly card: OpenPgpCard;
  readonly snapshot: CardSnapshot;
  /**
   * PW1's retries, fresh (GET DATA C4). A success also proves our application is selected in
   * this transaction (another application would not know GET DATA).
   */
  pw1Retries(): Promise<number>;
  /**
   * VERIFY PW1 in mode 82 or 81. Selects our application first unless this transaction has
   * proven it, so a PIN never reaches another application (a PIV applet's VERIFY 81 checks its PUK).
   */
  verifyPw1(pin: Secret, mode: typeof PW1_81 | typeof PW1_82): Promise<void>;
  /** The session's belief about PW1 in `mode`. */
  pinState(mode: typeof PW1_81 | typeof PW1_82): PinState;
  setPinState(mode: typeof PW1_81 | typeof PW1_82, state: PinState): void;
}

export interface CardSessionOptions {
  readonly log: Logger;
  readonly tracer?: ApduTracer;
}

/**
 * One card, as every operation sees it: the shape yubikey-agent gives each card operation, here
 * for OpenPGP cards. `run(op)` takes the card's queue, begins a PC/SC transaction (with the
 * first APDU), makes sure the card is alive (reconnect after a reset by another application)
 * and our application selected, re-reads what a reset may have changed, runs `op`, and ends the
 * transaction. After a reset or a lost selection the whole operation is retried once, never a
 * single APDU.
 */
export class CardSession {
  private readonly queue = new SerialQueue();
  private readonly log: Logger;
  private snap: CardSnapshot;
  private needsReconnect = false;
  private needsSelect = false;
  private needsRefresh = false;
  /** In the current transaction our application answered (SELECT, or a GET DATA). */
  private provenThisTransaction = false;
  private readonly pins = new Map<number, PinState>([
    [PW1_81, 'unknown'],
    [PW1_82, 'unknown'],
  ]);
  private closed = false;
  /** When the current PC/SC transaction began (ms since the epoch), or undefined outside one. */
  private transactionSince: number | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** No new transaction before this time (ms since the epoch): other applications' turn. */
  private breatherUntil = 0;
  /** When the keys were last checked against the card (ms since the epoch). */
  private checkedAt = 0;
  private revalidation: Promise<boolean> | undefined;

  private constructor(
    readonly reader: string,
    private readonly transport: CardTransport,
    readonly card: OpenPgpCard,
    options: CardSessionOptions,
    snapshot: CardSnapshot,
    private readonly now: () => number,
  ) {
    this.log = options.log;
    this.snap = snapshot;
    this.checkedAt = now();
  }

  /** Opens the card in `reader`: SELECT, 6E and the authentication key, in one transaction. */
  static async open(reader: string, transport: CardTransport, options: CardSessionOptions, now: () => number = Date.now): Promise<CardSession> {
    const card = new OpenPgpCard(OpenPgpCard.channelFor(transport, options.tracer === undefined ? {} : { tracer: options.tracer }));
    transport.beginTransaction?.();
    try {
      await card.select();
      const snapshot = await readSnapshot(card, 0);
      return new CardSession(reader, transport, card, options, snapshot, now);
    } finally {
      void transport.endTransaction?.().catch(() => undefined);
    }
  }

  get ident(): string {
    return this.snap.applicationData.aid.ident;
  }

  get snapshot(): CardSnapshot {
    return this.snap;
  }

  /** Operations waiting or running. */
  get busy(): boolean {
    return this.queue.pending > 0;
  }

  /** The transport's thread is blocked (pcscd not answering), when the transport can tell. */
  get stuck(): boolean {
    return (this.transport as { stuck?: boolean }).stuck === true;
  }

  pinState(mode: typeof PW1_81 | typeof PW1_82): PinState {
    return this.pins.get(mode) ?? 'unknown';
  }

  /** Runs `op` on the card: queue, transaction, alive and selected, op, end (see the class comment). */
  run<T>(what: string, op: (ctx: SessionContext) => Promise<T>): Promise<T> {
    return this.queue.run(() => this.runQueued(what, op));
  }

  /** `run` once the queue is ours: transaction, alive and selected, op, end; the whole op once more after a reset or a lost selection. */
  private async runQueued<T>(what: string, op: (ctx: SessionContext) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new UnsupportedError(`card ${this.ident} is no longer attached`);
      const wait = this.transactionSince === undefined ? this.breatherUntil - this.now() : 0;
      if (wait > 0) await sleep(wait);
      this.beginTransaction();
      this.provenThisTransaction = false;
      let failed = false;
      try {
        await this.ensureReady();
        return await op(this.context());
      } catch (err) {
        failed = true;
        if (attempt > 0 || !this.recover(err)) throw err;
        this.log.info({ ident: this.ident, reader: this.reader, op: what, why: (err as Error).message }, 'retrying the whole operation once');
      } finally {
        this.endTransaction(failed);
      }
    }
  }

  private beginTransaction(): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.transport.beginTransaction?.();
    this.transactionSince ??= this.now();
  }

  /**
   * After an operation: ends the transaction, or keeps it for the next operation of ours — at
   * once when one is queued, or for LINGER_MS — as long as the card has not been ours for
   * HOLD_MAX_MS. A failed operation always lets the card go.
   */
  private endTransaction(failed: boolean): void {
    const since = this.transactionSince;
    if (since !== undefined && this.now() - since >= HOLD_MAX_MS) this.breatherUntil = this.now() + BREATHER_MS;
    if (!failed && since !== undefined && this.now() - since < HOLD_MAX_MS && !this.closed) {
      if (this.queue.pending > 1) return;
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        if (this.queue.pending === 0) this.endNow();
      }, LINGER_MS);
      this.lingerTimer.unref();
      return;
    }
    this.endNow();
  }

  private endNow(): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.transactionSince = undefined;
    void this.transport.endTransaction?.().catch(() => undefined);
  }

  private async ensureReady(): Promise<void> {
    if (this.needsReconnect) {
      await this.transport.reconnect?.();
      this.needsReconnect = false;
    }
    if (this.needsSelect) {
      await this.card.select();
      this.needsSelect = false;
      this.provenThisTransaction = true;
    }
    if (this.needsRefresh) {
      await this.refreshNow();
      this.needsRefresh = false;
    }
  }

  /** Decides whether an operation that failed with `err` is worth one more try, and how. */
  private recover(err: unknown): boolean {
    if (err instanceof CardResetError) {
      // A reset deselects the application and forgets every verified PIN; the card may also
      // have been changed by whoever reset it: read it again.
      this.needsReconnect = true;
      this.needsSelect = true;
      this.needsRefresh = true;
      this.forgetPinStates('not-verified');
      return true;
    }
    if (err instanceof ForeignApplicationError) {
      this.needsSelect = true;
      this.forgetPinStates('unknown');
      return true;
    }
    return false;
  }

  private forgetPinStates(state: PinState): void {
    for (const k of this.pins.keys()) this.pins.set(k, state);
  }

  private context(): SessionContext {
    return {
      card: this.card,
      snapshot: this.snap,
      pw1Retries: async () => {
        const n = await this.card.pw1Retries();
        this.provenThisTransaction = true;
        return n;
      },
      verifyPw1: async (pin, mode) => {
        if (!this.provenThisTransaction) {
          await this.card.select();
          this.provenThisTransaction = true;
        }
        this.pins.set(mode, 'unknown');
        await this.card.verifyPw1(pin, mode);
        this.pins.set(mode, 'verified');
      },
      pinState: (mode) => this.pinState(mode),
      setPinState: (mode, state) => this.pins.set(mode, state),
    };
  }

  /** Reads 6E and the authentication key again (inside an operation). */
  private async refreshNow(): Promise<void> {
    const before = this.snap;
    this.snap = await readSnapshot(this.card, before.generation + 1);
    this.checkedAt = this.now();
    const was = describeKey(before.authKey);
    const is = describeKey(this.snap.authKey);
    if (was !== is || !sameKey(before.authKey, this.snap.authKey)) this.log.info({ ident: this.ident, reader: this.reader, before: was, now: is }, 'the card has a new authentication key');
  }

  /** Whether the keys were checked against the card less than `maxAgeMs` ago. */
  freshWithin(maxAgeMs: number): boolean {
    return this.now() - this.checkedAt < maxAgeMs;
  }

  /** A revalidation is under way (a caller that cannot wait should not wait for it either). */
  get revalidating(): boolean {
    return this.revalidation !== undefined;
  }

  /** Reads 6E and the keys again. */
  async refresh(): Promise<CardSnapshot> {
    await this.run('refresh', () => this.refreshNow());
    return this.snap;
  }

  /**
   * Makes sure the cached keys still are the card's, at most once per `maxAgeMs`: one GET DATA C5
   * (the key fingerprints), and a full read when they changed or the card had no key (a key
   * generated since). Answers whether anything changed. Callers that cannot wait race it with a
   * deadline: it finishes in the background and the next look sees the result.
   */
  revalidate(maxAgeMs: number): Promise<boolean> {
    if (this.revalidation !== undefined) return this.revalidation;
    if (this.freshWithin(maxAgeMs)) return Promise.resolve(false);
    const generation = this.snap.generation;
    this.revalidation = this.run('revalidate', async () => {
      if (this.snap.generation !== generation) return true;
      if (this.snap.authKey === undefined || this.snap.authKey.kind === 'unsupported') {
        await this.refreshNow();
      } else {
        const fps = await this.card.fingerprints();
        const known = this.snap.applicationData.fingerprints;
        if (known === undefined || fps.length < 60 || !equalBytes(fps.subarray(0, 60), concat3(known))) await this.refreshNow();
        else this.checkedAt = this.now();
      }
      return this.snap.generation !== generation;
    }).finally(() => {
      this.revalidation = undefined;
    });
    return this.revalidation;
  }

  /**
   * The card forgets that PW1 was verified: VERIFY P1=FF for 82 and 81 on 3.x cards; on older
   * cards a reset through PC/SC (the transaction ends with SCARD_RESET_CARD).
   */
  async forgetVerification(): Promise<void> {
    await this.queue.run(async () => {
      if (this.closed) return;
      if (this.card.canResetVerification) {
        // As any operation: after a reset or another application's selection, recovered and sent again.
        await this.runQueued('forget verification', async () => {
          await this.card.resetPw1Status(PW1_82);
          if (this.pinState(PW1_81) !== 'not-verified') await this.card.resetPw1Status(PW1_81);
        });
      } else {
        if (this.transport.endTransaction === undefined) throw new UnsupportedError(`card ${this.ident} cannot forget a verified PIN and its transport cannot reset it`);
        this.transport.beginTransaction?.();
        this.transactionSince = undefined;
        await this.transport.endTransaction({ reset: true });
        this.needsSelect = true;
      }
      this.forgetPinStates('not-verified');
    });
  }

  /** Stops using the card; operations queued after this fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    await this.transport.close();
  }
}

/** SELECT has been done: reads 6E and the authentication key. */
async function readSnapshot(card: OpenPgpCard, generation: number): Promise<CardSnapshot> {
  const applicationData = await card.readApplicationData();
  let authKey: CardKey | undefined;
  let authKeyProblem: string | undefined;
  if (applicationData.algorithms.aut === undefined) {
    authKeyProblem = 'the card reports no algorithm for its authentication key';
  } else {
    try {
      authKey = await card.readAuthKey();
      if (authKey.kind === 'unsupported') authKeyProblem = authKey.reason;
    } catch (err) {
      // 6A88: no key generated or imported in the slot yet.
      if (err instanceof ReferencedDataNotFoundError) authKeyProblem = 'the card has no authentication key (the slot is empty)';
      else if (err instanceof CardResetError || err instanceof ForeignApplicationError) throw err;
      else authKeyProblem = (err as Error).message;
      authKey = undefined;
    }
  }
  return { applicationData, authKey, authKeyProblem, generation };
}

function concat3(f: { sig: Uint8Array; dec: Uint8Array; aut: Uint8Array }): Uint8Array {
  const out = new Uint8Array(60);
  out.set(f.sig, 0);
  out.set(f.dec, 20);
  out.set(f.aut, 40);
  return out;
}

function describeKey(k: CardKey | undefined): string {
  if (k === undefined) return 'none';
  return k.kind;
}

function sameKey(a: CardKey | undefined, b: CardKey | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === 'rsa' && b.kind === 'rsa') return equalBytes(a.n, b.n) && equalBytes(a.e, b.e);
  if ((a.kind === 'ecdsa' && b.kind === 'ecdsa') || (a.kind === 'eddsa' && b.kind === 'eddsa')) return equalBytes(a.point, b.point);
  return a.kind === b.kind;
}
