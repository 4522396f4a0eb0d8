import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import { AGENT_MAX_LEN, FrameSplitter, encodeFrame } from '../../src/server/framing.js';
import { concatBytes } from '../../src/wire/bytes.js';

function collect(maxLen?: number): { frames: Uint8Array[]; splitter: FrameSplitter } {
  const frames: Uint8Array[] = [];
  const splitter = new FrameSplitter((f) => frames.push(f), maxLen);
  return { frames, splitter };
}

const concat = (parts: Uint8Array[]): Uint8Array => concatBytes(...parts);

describe('encodeFrame', () => {
  it('prefixes the body with its uint32 big-endian length', () => {
    expect([...encodeFrame(Uint8Array.of(11))]).toEqual([0, 0, 0, 1, 11]);
    const big = new Uint8Array(0x010203);
    expect([...encodeFrame(big).subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect([...encodeFrame(new Uint8Array(0))]).toEqual([0, 0, 0, 0]);
  });
});

describe('FrameSplitter', () => {
  const bodies = [Uint8Array.of(11), new Uint8Array(0), Uint8Array.from({ length: 300 }, (_, i) => i & 0xff), Uint8Array.of(13, 0, 0, 0, 0)];
  const stream = concat(bodies.map(encodeFrame));

  it('yields every frame whole when the stream is split once at every offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { frames, splitter } = collect();
      splitter.push(stream.subarray(0, cut));
      splitter.push(stream.subarray(cut));
      expect(frames).toEqual(bodies);
      expect(splitter.buffered).toBe(0);
    }
  });

  it('yields every frame when fed one byte at a time', () => {
    const { frames, splitter } = collect();
    for (const b of stream) splitter.push(Uint8Array.of(b));
    expect(frames).toEqual(bodies);
  });

  it('yields several frames from one chunk, in order', () => {
    const { frames, splitter } = collect();
    splitter.push(stream);
    expect(frames).toEqual(bodies);
  });

  it('holds back an incomplete frame and reports how much is buffered', () => {
    const { frames, splitter } = collect();
    splitter.push(stream.subarray(0, 5 + 2));
    expect(frames).toEqual([bodies[0]]);
    expect(splitter.buffered).toBe(2);
    splitter.push(stream.subarray(7, 15));
    expect(frames).toEqual([bodies[0], bodies[1]]);
    expect(splitter.buffered).toBe(6);
  });

  it('accepts exactly AGENT_MAX_LEN and rejects one byte more, after delivering earlier frames', () => {
    const { frames, splitter } = collect();
    const max = new Uint8Array(AGENT_MAX_LEN);
    splitter.push(encodeFrame(max));
    expect(frames).toHaveLength(1);
    expect(frames[0]).toHaveLength(AGENT_MAX_LEN);

    const tooBig = new Uint8Array(4);
    new DataView(tooBig.buffer).setUint32(0, AGENT_MAX_LEN + 1);
    const second = collect();
    expect(() => second.splitter.push(concat([encodeFrame(Uint8Array.of(11)), tooBig]))).toThrow(WireFormatError);
    expect(second.frames).toEqual([Uint8Array.of(11)]);
    expect(() => second.splitter.push(Uint8Array.of(0))).toThrow(WireFormatError);
  });

  it('reports the stream offset of an oversize length prefix', () => {
    const { splitter } = collect(10);
    splitter.push(encodeFrame(Uint8Array.of(1, 2)));
    try {
      splitter.push(Uint8Array.of(0, 0));
      splitter.push(Uint8Array.of(0, 11));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(WireFormatError);
      expect((err as WireFormatError).offset).toBe(6);
    }
  });

  it('reassembles any frames under any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (parts, cutSeeds) => {
          const bytes = concat(parts.map(encodeFrame));
          const cuts = [...new Set(cutSeeds.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const { frames, splitter } = collect();
          let prev = 0;
          for (const c of [...cuts, bytes.length]) {
            splitter.push(bytes.subarray(prev, c));
            prev = c;
          }
          expect(frames).toEqual(parts);
          expect(splitter.buffered).toBe(0);
        },
      ),
    );
  });

  it('allocates for the bytes that arrived, not for the length a header announces', () => {
    const { frames, splitter } = collect();
    const header = Uint8Array.of(0, 4, 0, 0); // 256 KiB announced
    splitter.push(header);
    expect(splitter.allocated).toBe(4);
    splitter.push(new Uint8Array(10));
    expect(splitter.allocated).toBe(4 + 1024);
    splitter.push(new Uint8Array(100_000));
    expect(splitter.buffered).toBe(4 + 100_010);
    expect(splitter.allocated).toBeLessThanOrEqual(4 + 2 * 100_010);
    splitter.push(new Uint8Array(AGENT_MAX_LEN - 100_010));
    expect(frames.map((f) => f.length)).toEqual([AGENT_MAX_LEN]);
    expect(splitter.allocated).toBe(4);
  });

  it('never holds more than twice what arrived (plus one small first block), under any chunking (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20_000 }), fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 30 }), (len, sizes) => {
        const body = Uint8Array.from({ length: len }, (_, i) => (i * 7) & 0xff);
        const bytes = encodeFrame(body);
        const { frames, splitter } = collect();
        let off = 0;
        for (const n of [...sizes, bytes.length]) {
          if (off >= bytes.length) break;
          splitter.push(bytes.subarray(off, Math.min(bytes.length, off + n)));
          off = Math.min(bytes.length, off + n);
          const arrived = Math.max(0, splitter.buffered - 4);
          expect(splitter.allocated).toBeLessThanOrEqual(4 + Math.max(1024, 2 * arrived));
        }
        expect(frames).toEqual([body]);
      }),
    );
  });
});
