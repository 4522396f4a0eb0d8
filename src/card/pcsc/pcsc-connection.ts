import type { Logger } from '../../log.js';
import type { CardTransport } from '../transport.js';
import { SCARD } from './pcsc-codes.js';
import { cardErrorFrom } from './pcsc-errors.js';
import type { PcscHandle } from './pcsc-native.js';
import { PcscThread } from './pcsc-thread.js';

export interface PcscConnectionOptions {
  /** How long an operation waits while another application holds the card (a PC/SC transaction). */
  readonly transactionWaitMs?: number;
  /** How long one APDU may take (a card waiting for a touch takes seconds; a hung pcscd, for ever). */
  readonly transmitTimeoutMs?: number;
  /** Bound on calls that should come back at once (connect, end transaction, reconnect). */
  readonly callTimeoutMs?: number;
}

/** Defaults: a YubiKey waits 15 s for a touch; GnuPG's transactions last milliseconds. */
export const PCSC_DEFAULTS = { transactionWaitMs: 10_000, transmitTimeoutMs: 30_000, callTimeoutMs: 5_000 } as const;

/**
 * One card over PC/SC, connected in SHARED mode so GnuPG (with pcsc-shared) and others can use
 * it too, on a thread and context of its own: a card waiting for a touch, another application's
 * transaction or a hung pcscd hold up this card only. Operations run inside PC/SC transactions
 * (begun with the first APDU, ended without waiting), so no other application's APDU can land
 * between two of ours.
 */
export class PcscConnection implements CardTransport {
  private wantBegin = false;
  private inTransaction = false;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly thread: PcscThread,
    private card: PcscHandle,
    private protocol: number,
    private readonly log: Logger,
    private readonly opts: Required<PcscConnectionOptions>,
  ) {}

  /** Connects to the card in `reader` (shared mode, T=0 or T=1). */
  static async open(reader: string, log: Logger, options: PcscConnectionOptions = {}): Promise<PcscConnection> {
    const opts = { ...PCSC_DEFAULTS, ...options };
    const thread = new PcscThread(reader, log);
    try {
      await thread.call('establish', {}, { timeoutMs: opts.callTimeoutMs });
      const { card, protocol } = await thread.call('connect', { reader, shareMode: SCARD.SHARE_SHARED }, { timeoutMs: opts.callTimeoutMs });
      return new PcscConnection(reader, thread, card, protocol, log, opts);
    } catch (err) {
      void thread.close();
      throw cardErrorFrom(err, reader);
    }
  }

  /** Whether this card's thread is blocked in C (pcscd not answering). */
  get stuck(): boolean {
    return this.thread.stuck;
  }

  beginTransaction(): void {
    if (!this.inTransaction) this.wantBegin = true;
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const begin = this.takeBegin();
    try {
      return await this.thread.call(
        'transmit',
        { card: this.card, protocol: this.protocol, apdu, begin },
        { timeoutMs: this.opts.transmitTimeoutMs, beginTimeoutMs: this.opts.transactionWaitMs },
      );
    } catch (err) {
      throw cardErrorFrom(err, this.name);
    }
  }

  /** One call to the PC/SC thread for the whole series (see CardTransport.transmitSeries); each APDU gets the transmit bound. */
  async transmitSeries(apdus: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const begin = this.takeBegin();
    try {
      return await this.thread.call(
        'transmitSeries',
        { card: this.card, protocol: this.protocol, apdus, begin },
        { timeoutMs: this.opts.transmitTimeoutMs * Math.max(1, apdus.length), beginTimeoutMs: this.opts.transactionWaitMs },
      );
    } catch (err) {
      throw cardErrorFrom(err, this.name);
    }
  }

  /** Whether the next call begins the transaction; from then on the card may be ours: end it whatever happens to that call. */
  private takeBegin(): boolean {
    const begin = this.wantBegin;
    if (begin) {
      this.wantBegin = false;
      this.inTransaction = true;
    }
    return begin;
  }

  async endTransaction(options: { readonly reset?: boolean } = {}): Promise<void> {
    this.wantBegin = false;
    if (!this.inTransaction) {
      if (options.reset === true) await this.reconnectWith(SCARD.RESET_CARD);
      return;
    }
    this.inTransaction = false;
    try {
      await this.thread.call('end', { card: this.card, disposition: options.reset === true ? SCARD.RESET_CARD : SCARD.LEAVE_CARD }, { timeoutMs: this.opts.callTimeoutMs });
    } catch (err) {
      const e = cardErrorFrom(err, this.name);
      // A transaction that a reset or a given-up wait already ended has nothing left to end.
      this.log.debug({ reader: this.name, err: e.message }, 'ending the PC/SC transaction failed');
      if (options.reset === true) throw e;
    }
  }

  async reconnect(): Promise<void> {
    await this.reconnectWith(SCARD.LEAVE_CARD);
  }

  private async reconnectWith(initialization: number): Promise<void> {
    this.inTransaction = false;
    this.wantBegin = false;
    try {
      this.protocol = await this.thread.call('reconnect', { card: this.card, shareMode: SCARD.SHARE_SHARED, initialization }, { timeoutMs: this.opts.callTimeoutMs });
    } catch (err) {
      throw cardErrorFrom(err, this.name);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.thread.stuck) {
      if (this.inTransaction) await this.thread.call('end', { card: this.card, disposition: SCARD.LEAVE_CARD }, { timeoutMs: this.opts.callTimeoutMs }).catch(() => undefined);
      await this.thread.call('disconnect', { card: this.card, disposition: SCARD.LEAVE_CARD }, { timeoutMs: this.opts.callTimeoutMs }).catch(() => undefined);
      await this.thread.call('release', {}, { timeoutMs: this.opts.callTimeoutMs }).catch(() => undefined);
    }
    await this.thread.close();
  }
}
