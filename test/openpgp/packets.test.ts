import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import { armor, crc24, dearmorAll, readOpenPgpData } from '../../src/openpgp/armor.js';
import { encodeLength, encodeMpi, encodePacket, parsePackets } from '../../src/openpgp/packet.js';
import { readFixture } from './fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('packet framing (RFC 9580 §4.2)', () => {
  it('writes the three OpenPGP-format length forms at their boundaries', () => {
    expect(hex(encodeLength(0))).toBe('00');
    expect(hex(encodeLength(191))).toBe('bf');
    // §4.2.1.2: 192..8383 as two octets, ((1st - 192) << 8) + 2nd + 192.
    expect(hex(encodeLength(192))).toBe('c000');
    expect(hex(encodeLength(8383))).toBe('dfff');
    expect(hex(encodeLength(8384))).toBe('ff000020c0');
    expect(hex(encodeLength(100000))).toBe('ff000186a0');
  });

  it('round-trips any sequence of packets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ tag: fc.integer({ min: 1, max: 63 }), body: fc.uint8Array({ maxLength: 9000 }) }), { maxLength: 4 }),
        (packets) => {
          const bytes = Buffer.concat(packets.map((p) => encodePacket(p.tag, p.body)));
          const parsed = parsePackets(bytes);
          expect(parsed.map((p) => ({ tag: p.tag, body: Uint8Array.from(p.body) }))).toEqual(packets.map((p) => ({ tag: p.tag, body: p.body })));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads legacy-format headers and joins partial body lengths', () => {
    // Legacy tag 2, one-octet length; then OpenPGP-format tag 11 with a partial length 2^1 then 1 byte.
    const legacy = Uint8Array.of(0x88, 0x02, 0xaa, 0xbb);
    const partial = Uint8Array.of(0xcb, 0xe1, 0x01, 0x02, 0x01, 0x03);
    const parsed = parsePackets(Uint8Array.from([...legacy, ...partial]));
    expect(parsed.map((p) => [p.tag, hex(p.body)])).toEqual([
      [2, 'aabb'],
      [11, '010203'],
    ]);
  });

  it('refuses every truncation of a packet stream with WireFormatError, never a RangeError', () => {
    const bytes = Buffer.concat([encodePacket(2, new Uint8Array(300).fill(7)), encodePacket(13, new TextEncoder().encode('A <a@b>'))]);
    for (let cut = 1; cut < bytes.length; cut++) {
      if (cut === 303 /* exactly the first packet: header 3 + body 300 */) continue;
      expect(() => parsePackets(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(WireFormatError);
    }
  });

  it('encodes MPIs as RFC 9580 §3.2 shows (1 is 00 01 01, 511 is 00 09 01 FF), dropping leading zeros', () => {
    expect(hex(encodeMpi(Uint8Array.of(1)))).toBe('000101');
    expect(hex(encodeMpi(Uint8Array.of(0x01, 0xff)))).toBe('000901ff');
    expect(hex(encodeMpi(Uint8Array.of(0, 0, 0x80)))).toBe('000880');
    expect(hex(encodeMpi(new Uint8Array(0)))).toBe('0000');
  });
});

describe('ASCII armor (RFC 9580 §6)', () => {
  it('CRC-24 of nothing is the initial value B704CE', () => {
    expect(crc24(new Uint8Array(0))).toBe(0xb704ce);
  });

  it("reads GnuPG's armor and writes it back line for line", () => {
    for (const name of ['rsa.sig.asc', 'p256.cert.asc', 'ed.cert.asc']) {
      const text = readFixture(name);
      const [block] = dearmorAll(text);
      expect(block).toBeDefined();
      const kind = block!.kind as 'SIGNATURE' | 'PUBLIC KEY BLOCK';
      expect(armor(kind, block!.data)).toBe(text);
    }
  });

  it('round-trips random data; a changed byte or checksum is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 500 }), (data) => {
        const text = armor('SIGNATURE', data);
        expect(dearmorAll(text)[0]!.data).toEqual(data);
        expect(readOpenPgpData(new TextEncoder().encode(text))[0]).toEqual(data);
      }),
      { numRuns: 100 },
    );
    const text = armor('SIGNATURE', Uint8Array.of(1, 2, 3, 4, 5, 6));
    const lines = text.split('\n');
    const tampered = [...lines];
    tampered[2] = tampered[2]!.replace(/^A/, 'B');
    expect(() => dearmorAll(tampered.join('\n'))).toThrow(/checksum/);
    expect(() => dearmorAll(text.replace('-----END PGP SIGNATURE-----', ''))).toThrow(/END/);
  });

  it('passes binary OpenPGP data through', () => {
    const bin = encodePacket(2, Uint8Array.of(1, 2));
    expect(readOpenPgpData(bin)).toEqual([bin]);
  });
});
