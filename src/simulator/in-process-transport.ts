import type { CardTransport } from '../card/transport.js';
import { CardRemovedError } from '../errors.js';
import type { VirtualCard } from './virtual-card.js';

/** A CardTransport straight into a VirtualCard, for unit tests and --simulate. Counts APDUs. */
export class InProcessTransport implements CardTransport {
  apduCount = 0;
  private present = true;

  constructor(
    readonly card: VirtualCard,
    readonly name = 'Virtual OpenPGP card (in-process)',
  ) {}

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    if (!this.present) throw new CardRemovedError(`card removed from ${this.name}`);
    this.apduCount++;
    const response = await this.card.process(apdu);
    if (!this.present) throw new CardRemovedError(`card removed from ${this.name} during the command`);
    return response;
  }

  /** Simulates pulling the card out: transmit rejects until reinsert(). */
  remove(): void {
    this.present = false;
  }

  /** Puts the card back; like a real insertion, it comes up reset. */
  reinsert(): void {
    this.card.reset();
    this.present = true;
  }

  async close(): Promise<void> {}
}
