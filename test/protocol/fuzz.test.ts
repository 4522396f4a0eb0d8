import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse, encodeResponse } from '../../src/protocol/response.js';
import { loadOpenSshFrames } from './openssh-frames.js';

const frames = loadOpenSshFrames();

/**
 * The codecs keep every byte they accept, so whatever decodes must re-encode to the same bytes;
 * whatever does not decode must fail with WireFormatError and nothing else.
 */
function check(dir: 'request' | 'response', body: Uint8Array): void {
  let encoded: Uint8Array;
  try {
    encoded = dir === 'request' ? encodeRequest(decodeRequest(body)) : encodeResponse(decodeResponse(body));
  } catch (err) {
    expect(err).toBeInstanceOf(WireFormatError);
    return;
  }
  expect(Buffer.from(encoded).equals(Buffer.from(body))).toBe(true);
}

const typeByte = fc.oneof(fc.constantFrom(5, 6, 11, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29), fc.nat(255));

describe('codecs on random and mutated input', () => {
  it('random bodies with a plausible type byte', () => {
    fc.assert(
      fc.property(typeByte, fc.uint8Array({ maxLength: 200 }), fc.boolean(), (t, rest, isReq) => {
        check(isReq ? 'request' : 'response', Uint8Array.from([t, ...rest]));
      }),
      { numRuns: 3000 },
    );
  });

  it('recorded OpenSSH frames with bytes flipped, inserted or dropped', () => {
    const frame = fc.constantFrom(...frames);
    const edit = fc.record({ pos: fc.nat(), value: fc.nat(255), op: fc.constantFrom('set', 'insert', 'delete') });
    fc.assert(
      fc.property(frame, fc.array(edit, { minLength: 1, maxLength: 4 }), (f, edits) => {
        const bytes = Array.from(f.body);
        for (const e of edits) {
          const p = e.pos % (bytes.length + 1);
          if (e.op === 'set' && p < bytes.length) bytes[p] = e.value;
          else if (e.op === 'insert') bytes.splice(p, 0, e.value);
          else if (e.op === 'delete') bytes.splice(p, 1);
        }
        check(f.dir, Uint8Array.from(bytes));
      }),
      { numRuns: 3000 },
    );
  });
});
