import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CardManager } from '../../src/agent/card-manager.js';
import { VirtualCard } from '../../src/simulator/virtual-card.js';
import { FakePcscTransport } from '../card/fake-pcsc-transport.js';

const silent = pino({ level: 'silent' });

describe('CardManager', () => {
  it('a card pulled out while it is being attached is never registered, and its connection is closed', async () => {
    const cards = new CardManager({ log: silent });
    const t = new FakePcscTransport(await VirtualCard.create({ authAlgorithm: 'ed25519' }));
    const transmit = t.transmit.bind(t);
    let first = true;
    t.transmit = async (apdu) => {
      if (first) {
        first = false;
        // The monitor reports the removal while SELECT is on its way.
        cards.detach('r');
      }
      return transmit(apdu);
    };
    const added: string[] = [];
    cards.on('added', (s) => added.push(s.ident));
    expect(await cards.attach('r', async () => t)).toBeUndefined();
    expect(cards.list()).toEqual([]);
    expect(added).toEqual([]);
    expect(t.log.at(-1)).toBe('close');
  });

  it('attaching again replaces the earlier session; detach removes it; idents match loosely', async () => {
    const cards = new CardManager({ log: silent });
    const card = await VirtualCard.create({ authAlgorithm: 'ed25519' });
    const a = await cards.attach('r', async () => new FakePcscTransport(card));
    const b = await cards.attach('r', async () => new FakePcscTransport(card));
    expect(cards.list()).toEqual([b]);
    expect(a).not.toBe(b);
    expect(cards.findByIdent(`cardno:${b!.ident.replace(':', '_').toLowerCase()}`)).toBe(b);
    cards.detach('r');
    expect(cards.list()).toEqual([]);
  });
});
