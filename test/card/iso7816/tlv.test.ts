import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findTlv, parseTlv, type Tlv } from '../../../src/card/iso7816/tlv.js';
import { WireFormatError } from '../../../src/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

describe('BER-TLV', () => {
  it('multi-byte tags, length forms 81/82, nesting and the constructed flag', () => {
    const objs = parseTlv(unhex('7f49820109' + '818201' + '00' + 'ab'.repeat(256) + '8203010001'));
    expect(objs).toHaveLength(1);
    const root = objs[0]!;
    expect(root.tag).toBe(0x7f49);
    expect(root.constructed).toBe(true);
    expect(root.children.map((c) => c.tag)).toEqual([0x81, 0x82]);
    expect(root.children[0]!.constructed).toBe(false);
    expect(root.children[0]!.value.length).toBe(256);
    expect(root.children[0]!.offset).toBe(5);
    expect(hex(root.children[1]!.value)).toBe('010001');
    expect(parseTlv(unhex('5f2d026465'))[0]).toMatchObject({ tag: 0x5f2d, constructed: false });
    expect(parseTlv(unhex('8102aabb'))[0]!.constructed).toBe(false);
  });

  it('length form 83 and three-byte tags', () => {
    const v = 'cd'.repeat(70000);
    const objs = parseTlv(unhex('5f8101' + '83011170' + v));
    expect(objs[0]!.tag).toBe(0x5f8101);
    expect(objs[0]!.value.length).toBe(70000);
  });

  it('finds objects at any depth', () => {
    const objs = parseTlv(unhex('6e0c' + '7308' + 'c003010203' + 'c401aa' + '4f00'));
    expect(hex(findTlv(objs, 0xc4)!.value)).toBe('aa');
    expect(findTlv(objs, 0x4f)!.value.length).toBe(0);
    expect(findTlv(objs, 0xc5)).toBeUndefined();
  });

  it('keeps the children that parse before junk at the end of a constructed object', () => {
    const objs = parseTlv(unhex('6e0b' + '7308' + 'c003010203' + 'c401aa' + '4f'));
    expect(hex(findTlv(objs, 0xc4)!.value)).toBe('aa');
    expect(objs[0]!.children.map((c) => c.tag)).toEqual([0x73]);
  });

  it('a declared length longer than what follows yields what is there (marked truncated)', () => {
    const objs = parseTlv(unhex('5e0a414243'));
    expect(hex(objs[0]!.value)).toBe('414243');
    expect(objs[0]!.truncated).toBe(true);
    expect(parseTlv(unhex('5e03414243'))[0]!.truncated).toBe(false);
  });

  it('skips 00/FF padding between objects', () => {
    const objs = parseTlv(unhex('00ff' + 'c101aa' + '0000' + 'c201bb' + 'ff'));
    expect(objs.map((o) => o.tag)).toEqual([0xc1, 0xc2]);
  });

  it('a constructed object whose content is not TLV keeps its value and has no children', () => {
    const objs = parseTlv(unhex('7303' + '1f' + 'ffff'));
    expect(objs[0]!.children).toEqual([]);
    expect(hex(objs[0]!.value)).toBe('1fffff');
  });

  it('throws WireFormatError where nothing sensible can be done', () => {
    for (const bad of ['5f', '7f49', '7f4982', '7f498201', 'c180aa', 'c184000000010a', '1f818181018100', 'c1']) {
      expect(() => parseTlv(unhex(bad)), bad).toThrow(WireFormatError);
    }
  });

  it('garbage in: only WireFormatError comes out, and values stay inside the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        try {
          const objs = parseTlv(b);
          const walk = (os: readonly Tlv[]): void => {
            for (const o of os) {
              expect(o.value.buffer).toBe(b.buffer);
              expect(o.offset).toBeLessThan(b.length);
              walk(o.children);
            }
          };
          walk(objs);
        } catch (e) {
          if (!(e instanceof WireFormatError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('deep nesting does not overflow the stack', () => {
    let s = 'c001aa';
    for (let i = 0; i < 200; i++) {
      const len = s.length / 2;
      s = (len < 128 ? `70${len.toString(16).padStart(2, '0')}` : `7082${len.toString(16).padStart(4, '0')}`) + s;
    }
    expect(() => parseTlv(unhex(s))).not.toThrow();
  });
});
