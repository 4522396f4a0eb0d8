import type { CardTransport } from '../../src/card/transport.js';
import { transmitOneByOne } from './iso7816/scripted-transport.js';
import { CardRemovedError, CardResetError } from '../../src/errors.js';
import type { VirtualCard } from '../../src/simulator/virtual-card.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * A transport with PC/SC's shape over a VirtualCard, for unit tests of the card session: lazy
 * transactions, SCARD_W_RESET_CARD after another application's reset (until reconnect), a
 * foreign application selected between our operations, removal. `log` records what happened.
 */
export class FakePcscTransport implements CardTransport {
  readonly name = 'fake reader';
  readonly log: string[] = [];
  apduCount = 0;
  private wantBegin = false;
  private inTransaction = false;
  private resetPending = false;
  private present = true;

  constructor(readonly card: VirtualCard) {}

  beginTransaction(): void {
    if (!this.inTransaction) this.wantBegin = true;
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    if (!this.present) throw new CardRemovedError('card removed');
    if (this.wantBegin) {
      this.wantBegin = false;
      if (this.resetPending) throw new CardResetError('card was reset by another application');
      this.inTransaction = true;
      this.log.push('begin');
    }
    if (this.resetPending) throw new CardResetError('card was reset by another application');
    this.apduCount++;
    this.log.push(`> ${hex(apdu)}`);
    return this.card.process(apdu);
  }

  /** PC/SC's series, one call: logged as "series N", then each APDU as transmit logs it. */
  transmitSeries(apdus: readonly Uint8Array[]): Promise<Uint8Array[]> {
    this.log.push(`series ${apdus.length}`);
    return transmitOneByOne((a) => this.transmit(a), apdus);
  }

  async endTransaction(options: { readonly reset?: boolean } = {}): Promise<void> {
    this.wantBegin = false;
    if (options.reset === true) {
      this.card.reset();
      this.log.push(this.inTransaction ? 'end+reset' : 'reset');
    } else if (this.inTransaction) this.log.push('end');
    this.inTransaction = false;
  }

  async reconnect(): Promise<void> {
    this.resetPending = false;
    this.inTransaction = false;
    this.log.push('reconnect');
  }

  async close(): Promise<void> {
    this.log.push('close');
  }

  /** Another application resets the card: our next transmit gets SCARD_W_RESET_CARD. */
  resetByOtherApplication(): void {
    this.card.reset();
    this.resetPending = true;
  }

  /** Another application selects the card's PIV application (as ykman or a browser would). */
  async selectForeignApplication(): Promise<void> {
    await this.card.process(Uint8Array.from(Buffer.from('00a4040005a000000308', 'hex')));
  }

  remove(): void {
    this.present = false;
  }

  /** The APDUs (hex) logged since `mark`. */
  apdusSince(mark: number): string[] {
    return this.log.slice(mark).filter((l) => l.startsWith('> ')).map((l) => l.slice(2));
  }
}
