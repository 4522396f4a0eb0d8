import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Iso7816Channel } from '../../src/card/iso7816/channel.js';
import { encodeCommand } from '../../src/card/iso7816/command.js';
import { parseTlv } from '../../src/card/iso7816/tlv.js';
import type { CardTransport } from '../../src/card/transport.js';
import { CardStatusError, PinBlockedError, PinIncorrectError, WireFormatError } from '../../src/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** A scripted card: answers each APDU with the next response and records what it got. */
class Scripted implements CardTransport {
  readonly name = 'scripted';
  readonly got: string[] = [];
  constructor(private readonly answers: string[]) {}
  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    this.got.push(hex(apdu));
    const a = this.answers.shift();
    if (a === undefined) throw new Error('no more answers');
    return unhex(a);
  }
  async close(): Promise<void> {}
}

describe('APDU encoding (ISO 7816-4 §5.1)', () => {
  it('short forms for cases 1–4', () => {
    expect(hex(encodeCommand({ ins: 0xa4, p1: 4, p2: 0 }, false))).toBe('00a40400');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 }, false))).toBe('00ca006e00');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 256 }, false))).toBe('00ca006e00');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 255 }, false))).toBe('00ca006eff');
    expect(hex(encodeCommand({ ins: 0x20, p1: 0, p2: 0x82, data: unhex('313233') }, false))).toBe('0020008203313233');
    expect(hex(encodeCommand({ ins: 0x88, p1: 0, p2: 0, data: unhex('aa'), le: 0 }, false))).toBe('0088000001aa00');
  });

  it('extended forms when data > 255 or Le > 256', () => {
    const data = new Uint8Array(256).fill(1);
    const e = encodeCommand({ ins: 0x88, p1: 0, p2: 0, data, le: 65536 }, true);
    expect(hex(e.subarray(0, 7))).toBe('00880000000100');
    expect(hex(e.subarray(-2))).toBe('0000');
    expect(e.length).toBe(4 + 3 + 256 + 2);
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 0x0bfe }, true))).toBe('00ca006e000bfe');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 65535 }, true))).toBe('00ca006e00ffff');
    expect(() => encodeCommand({ ins: 0x88, p1: 0, p2: 0, data }, false)).toThrow(/extended length/);
  });
});

describe('Iso7816Channel', () => {
  it('collects 61xx pieces with GET RESPONSE', async () => {
    const t = new Scripted(['aabb6102', 'ccdd9000']);
    const ch = new Iso7816Channel(t);
    expect(hex(await ch.transceive({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 }))).toBe('aabbccdd');
    expect(t.got).toEqual(['00ca006e00', '00c0000002']);
  });

  it('resends with the Le a 6Cxx names', async () => {
    const t = new Scripted(['6c05', '01020304059000']);
    const ch = new Iso7816Channel(t);
    expect(hex(await ch.transceive({ ins: 0xca, p1: 0, p2: 0xc4, le: 0 }))).toBe('0102030405');
    expect(t.got).toEqual(['00ca00c400', '00ca00c405']);
  });

  it('chains long data in short mode (CLA bit 0x10) and stops at the first error', async () => {
    const t = new Scripted(['9000', '9000']);
    const ch = new Iso7816Channel(t);
    await ch.transceive({ ins: 0xda, p1: 0, p2: 0x5e, data: new Uint8Array(300).fill(7) });
    expect(t.got[0]!.slice(0, 10)).toBe('10da005eff');
    expect(t.got[1]!.slice(0, 10)).toBe('00da005e2d');
    const t2 = new Scripted(['6a80']);
    await expect(new Iso7816Channel(t2).transceive({ ins: 0xda, p1: 0, p2: 0x5e, data: new Uint8Array(300) })).rejects.toMatchObject({ sw: 0x6a80 });
    expect(t2.got).toHaveLength(1);
  });

  it('turns status words into typed errors', async () => {
    const ch = (sw: string): Iso7816Channel => new Iso7816Channel(new Scripted([sw]));
    await expect(ch('63c2').transceive({ ins: 0x20, p1: 0, p2: 0x82, data: unhex('31') })).rejects.toSatisfy(
      (e) => e instanceof PinIncorrectError && e.retriesLeft === 2,
    );
    await expect(ch('6983').transceive({ ins: 0x20, p1: 0, p2: 0x82, data: unhex('31') })).rejects.toBeInstanceOf(PinBlockedError);
    await expect(ch('6982').transceive({ ins: 0x88, p1: 0, p2: 0 })).rejects.toSatisfy(
      (e) => e instanceof CardStatusError && e.sw === 0x6982 && /not satisfied/.test(e.message),
    );
    await expect(ch('90').transceive({ ins: 0x88, p1: 0, p2: 0 })).rejects.toBeInstanceOf(CardStatusError);
  });

  it('the tracer never sees PIN bytes', async () => {
    const seen: string[] = [];
    const ch = new Iso7816Channel(new Scripted(['9000', '9000', '9000']), (_d, b) => seen.push(hex(b)));
    await ch.transceive({ ins: 0x20, p1: 0, p2: 0x82, data: new TextEncoder().encode('123456') });
    await ch.transceive({ ins: 0x24, p1: 0, p2: 0x81, data: new TextEncoder().encode('123456654321') });
    await ch.transceive({ ins: 0x2c, p1: 2, p2: 0x81, data: new TextEncoder().encode('654321') });
    const all = seen.join(' ');
    expect(all).not.toContain(Buffer.from('123456').toString('hex'));
    expect(all).not.toContain(Buffer.from('654321').toString('hex'));
    expect(seen[0]).toBe('0020008206ffffffffffff');
  });
});

describe('BER-TLV', () => {
  it('multi-byte tags, long lengths, nesting', () => {
    const objs = parseTlv(unhex('7f49820109' + '818201' + '00' + 'ab'.repeat(256) + '8203010001'));
    expect(objs[0]!.tag).toBe(0x7f49);
    expect(objs[0]!.constructed).toBe(true);
    expect(objs[0]!.children[0]!.tag).toBe(0x81);
    expect(objs[0]!.children[0]!.value.length).toBe(256);
    expect(hex(objs[0]!.children[1]!.value)).toBe('010001');
  });

  it('a declared length longer than what follows yields what is there', () => {
    const objs = parseTlv(unhex('5e0a414243'));
    expect(hex(objs[0]!.value)).toBe('414243');
  });

  it('throws only WireFormatError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          parseTlv(b);
        } catch (e) {
          if (!(e instanceof WireFormatError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
