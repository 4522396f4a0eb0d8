import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../../src/card/iso7816/command.js';
import { ReplayTransport } from '../../../src/simulator/replay-transport.js';
import { parseCommandApdu } from '../../../src/simulator/command-apdu.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const bytes = (n: number, v = 0xab): Uint8Array => new Uint8Array(n).fill(v);

describe('command APDU encoding (ISO 7816-4 §5.1)', () => {
  it('short cases 1–4', () => {
    expect(hex(encodeCommand({ ins: 0xa4, p1: 4, p2: 0 }, false))).toBe('00a40400');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 }, false))).toBe('00ca006e00');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 1 }, false))).toBe('00ca006e01');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 255 }, false))).toBe('00ca006eff');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 256 }, false))).toBe('00ca006e00');
    expect(hex(encodeCommand({ ins: 0x20, p1: 0, p2: 0x82, data: unhex('313233') }, false))).toBe('0020008203313233');
    expect(hex(encodeCommand({ ins: 0x88, p1: 0, p2: 0, data: unhex('aa'), le: 0 }, false))).toBe('0088000001aa00');
    // The SELECT the YubiKey recording has: case 4 with Le 00.
    expect(hex(encodeCommand({ ins: 0xa4, p1: 4, p2: 0, data: unhex('d27600012401'), le: 256 }, false))).toBe('00a4040006d2760001240100');
  });

  it('255 data bytes stay short, 256 need the extended form (Lc 00 hi lo)', () => {
    const s = encodeCommand({ ins: 0xda, p1: 0, p2: 0x5e, data: bytes(255) }, true);
    expect(s.length).toBe(5 + 255);
    expect(hex(s.subarray(0, 5))).toBe('00da005eff');
    const e = encodeCommand({ ins: 0xda, p1: 0, p2: 0x5e, data: bytes(256) }, true);
    expect(e.length).toBe(7 + 256);
    expect(hex(e.subarray(0, 7))).toBe('00da005e000100');
    expect(() => encodeCommand({ ins: 0xda, p1: 0, p2: 0x5e, data: bytes(256) }, false)).toThrow(/extended length/);
  });

  it('extended Le: alone as 00 hi lo, after extended data as hi lo; 65536 as 0000', () => {
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 0x0bfe }, true))).toBe('00ca006e000bfe');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 257 }, true))).toBe('00ca006e000101');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 65535 }, true))).toBe('00ca006e00ffff');
    expect(hex(encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 65536 }, true))).toBe('00ca006e000000');
    // Short data with a long Le: both fields go extended (ISO forbids mixing the forms).
    expect(hex(encodeCommand({ ins: 0x88, p1: 0, p2: 0, data: unhex('0102'), le: 512 }, true))).toBe('00880000000002010202' + '00');
    const d = encodeCommand({ ins: 0x88, p1: 0, p2: 0, data: bytes(300), le: 65536 }, true);
    expect(hex(d.subarray(0, 7))).toBe('0088000000012c');
    expect(hex(d.subarray(-2))).toBe('0000');
    expect(d.length).toBe(7 + 300 + 2);
    expect(() => encodeCommand({ ins: 0xca, p1: 0, p2: 0x6e, le: 257 }, false)).toThrow(/extended length/);
  });

  it('65535 data bytes is the most; more is refused, as are fields out of range', () => {
    const m = encodeCommand({ ins: 0xda, p1: 0, p2: 0, data: bytes(65535) }, true);
    expect(hex(m.subarray(0, 7))).toBe('00da000000ffff');
    expect(m.length).toBe(7 + 65535);
    expect(() => encodeCommand({ ins: 0xda, p1: 0, p2: 0, data: bytes(65536) }, true)).toThrow(/too long/);
    expect(() => encodeCommand({ ins: 0x100, p1: 0, p2: 0 }, true)).toThrow(/INS/);
    expect(() => encodeCommand({ ins: 0xca, p1: 0, p2: 0, le: 65537 }, true)).toThrow(/Le/);
  });

  it("every encoding decodes back, as the card parses it (the virtual card's parser), to the same header, data and Le", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 600 }),
        fc.option(fc.integer({ min: 1, max: 65536 }), { nil: undefined }),
        (ins, data, le) => {
          const apdu = encodeCommand({ cla: 0, ins, p1: 1, p2: 2, data, ...(le === undefined ? {} : { le }) }, true);
          const back = parseCommandApdu(apdu);
          // The card's Le 0 is "no Le field".
          expect(back).toEqual({ cla: 0, ins, p1: 1, p2: 2, data, le: le ?? 0, extended: data.length > 255 || (le ?? 0) > 256 });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('bytes that are no APDU are refused by the parser', () => {
    for (const bad of ['00ca00', '00ca006e0201', '00ca006e0201020304', '00ca006e0000', '00ca006e00000001', '00ca006e000002aa']) {
      expect(parseCommandApdu(unhex(bad)), bad).toBeUndefined();
    }
  });
});

describe('replay transport', () => {
  it("a recorded command may be sent with another Le only: the same header and data, as the card's parser reads them", async () => {
    // GET RESPONSE recorded without Le; we send Le = the xx of 61xx.
    const t = new ReplayTransport([{ cmd: '00c00000', sent: '00c0000010', resp: '9000' }]);
    expect(hex(await t.transmit(unhex('00c0000010')))).toBe('9000');
    expect(t.done).toBe(true);
    // Short case 4 recorded, extended Le sent: still only Le.
    expect(() => new ReplayTransport([{ cmd: '0088000002abcd00', sent: '00880000000002abcd0200', resp: '9000' }])).not.toThrow();
    for (const sent of ['00c0010010', '80c0000010', '0088000002abce00', '0088000001ab00', '00c00000ff00']) {
      const cmd = sent.startsWith('0088') ? '0088000002abcd00' : '00c00000';
      expect(() => new ReplayTransport([{ cmd, sent, resp: '9000' }]), sent).toThrow(/in more than Le/);
    }
  });
});
