import type { CardTransport } from '../transport.js';
import { isResetError, mapPcscError } from './pcsc-errors.js';
import { smartcard, type PcscCard, type PcscContext } from './smartcard-binding.js';

/** Extended APDUs: up to 65536 data bytes plus SW1 SW2. */
const RECV_BUFFER = 65538;

/**
 * One card over PC/SC, connected in SHARED mode so GnuPG (with pcsc-shared) and others can use
 * it too. A reset by another application (SCARD_W_RESET_CARD) is handled by reconnecting and
 * telling the layer above, which must SELECT (and VERIFY) again: `onReset`.
 */
export class PcscTransport implements CardTransport {
  /** Called after a reset by someone else, before the command is retried by the caller. */
  onReset: (() => Promise<void>) | undefined;
  private closed = false;

  private constructor(
    readonly name: string,
    private card: PcscCard,
    private readonly context: PcscContext,
  ) {}

  /**
   * Each card gets a PC/SC context of its own: pcsc-lite serialises the calls on one context, so
   * a transmit waiting for a touch would otherwise hold up the reader monitor's (synchronous)
   * listing, and with it the whole event loop.
   */
  static async connect(readerName: string): Promise<PcscTransport> {
    let context: PcscContext;
    try {
      context = new smartcard.Context();
    } catch (err) {
      throw mapPcscError(err, readerName);
    }
    try {
      const reader = context.listReaders().find((r) => r.name === readerName);
      if (reader === undefined) throw new Error('Unknown reader');
      const card = await reader.connect(smartcard.SCARD_SHARE_SHARED, smartcard.SCARD_PROTOCOL_T0 | smartcard.SCARD_PROTOCOL_T1);
      return new PcscTransport(readerName, card, context);
    } catch (err) {
      try {
        context.close();
      } catch {
        // nothing more to free
      }
      throw mapPcscError(err, readerName);
    }
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    try {
      return Uint8Array.from(await this.card.transmit(Buffer.from(apdu), { maxRecvLength: RECV_BUFFER }));
    } catch (err) {
      if (!isResetError(err)) throw mapPcscError(err, this.name);
    }
    // Another application reset the card: reconnect, let the layer above re-select, resend once.
    try {
      await this.card.reconnect(smartcard.SCARD_SHARE_SHARED, smartcard.SCARD_PROTOCOL_T0 | smartcard.SCARD_PROTOCOL_T1, smartcard.SCARD_LEAVE_CARD);
    } catch (err) {
      throw mapPcscError(err, this.name);
    }
    await this.onReset?.();
    try {
      return Uint8Array.from(await this.card.transmit(Buffer.from(apdu), { maxRecvLength: RECV_BUFFER }));
    } catch (err) {
      throw mapPcscError(err, this.name);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.card.disconnect(smartcard.SCARD_LEAVE_CARD);
    } catch {
      // already gone with its card or pcscd
    }
    try {
      this.context.close();
    } catch {
      // likewise
    }
  }
}
