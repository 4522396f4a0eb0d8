import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import type { Response } from '../../src/protocol/messages.js';
import {
  decodeKeysReply,
  decodeKeysRequest,
  decodeSignReply,
  decodeSignRequest,
  ExtensionRefusedError,
  keysReply,
  keysRequest,
  OpenPgpExtension,
  signReply,
  signRequest,
  type OpenPgpKeyEntry,
} from '../../src/protocol/openpgp-extension.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse, encodeResponse } from '../../src/protocol/response.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

const entryArb: fc.Arbitrary<OpenPgpKeyEntry> = fc.record({
  ident: fc.string({ maxLength: 20 }),
  slot: fc.constantFrom('signature' as const, 'decryption' as const, 'authentication' as const),
  fingerprint: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  created: fc.nat({ max: 0xffffffff }),
  parts: fc.oneof(
    fc.record({ algorithm: fc.constant(1 as const), n: fc.uint8Array({ maxLength: 300 }), e: fc.uint8Array({ maxLength: 4 }) }),
    fc.record({ algorithm: fc.constantFrom(18 as const, 19 as const, 22 as const), oid: fc.uint8Array({ maxLength: 10 }), point: fc.uint8Array({ maxLength: 133 }) }),
  ),
});

/** A reply body through the real response codec, as a client sees it. */
const viaWire = (r: Response): Response => decodeResponse(encodeResponse(r), 'extension');

describe('openpgp-keys-v00 / openpgp-sign-v00 agent extensions', () => {
  it('the sign request has the documented layout, byte for byte', () => {
    const req = signRequest({ fingerprint: new Uint8Array(20).fill(0x11), hashAlgorithm: 8, digest: Uint8Array.of(0xaa, 0xbb), purpose: 'git commit' });
    const frame = encodeRequest({ type: 'extension', extension: req });
    const name = OpenPgpExtension.SIGN;
    expect(hex(frame)).toBe(
      '1b' + // SSH_AGENTC_EXTENSION
        (name.length.toString(16).padStart(8, '0') + hex(new TextEncoder().encode(name))) +
        '00000014' + '11'.repeat(20) + // fingerprint
        '08' + // SHA-256
        '00000002aabb' + // digest
        '0000000a' + hex(new TextEncoder().encode('git commit')),
    );
    const decoded = decodeRequest(frame);
    expect(decoded.type === 'extension' && decoded.extension.kind === 'other' && decoded.extension.name).toBe(name);
    if (decoded.type !== 'extension' || decoded.extension.kind !== 'other') throw new Error('not an extension');
    expect(decodeSignRequest(decoded.extension.contents)).toEqual({ fingerprint: new Uint8Array(20).fill(0x11), hashAlgorithm: 8, digest: Uint8Array.of(0xaa, 0xbb), purpose: 'git commit' });
  });

  it('the keys reply has the documented layout, byte for byte', () => {
    const entry: OpenPgpKeyEntry = { ident: '0006:12345678', slot: 'signature', fingerprint: new Uint8Array(20).fill(0x22), created: 0x5f000000, parts: { algorithm: 22, oid: bytes('2b06010401da470f01'), point: new Uint8Array(32).fill(0x33) } };
    const body = encodeResponse(keysReply([entry]));
    const name = OpenPgpExtension.KEYS;
    expect(hex(body)).toBe(
      '1d' + // SSH_AGENT_EXTENSION_RESPONSE
        name.length.toString(16).padStart(8, '0') + hex(new TextEncoder().encode(name)) +
        '00000001' +
        '0000000d' + hex(new TextEncoder().encode('0006:12345678')) +
        '01' +
        '00000014' + '22'.repeat(20) +
        '5f000000' +
        '16' +
        '00000009' + '2b06010401da470f01' +
        '00000020' + '33'.repeat(32),
    );
    expect(decodeKeysReply(viaWire(keysReply([entry])))).toEqual([entry]);
  });

  it('round-trips random key lists, sign requests and replies through the real codecs', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 5 }), (keys) => {
        expect(decodeKeysReply(viaWire(keysReply(keys)))).toEqual(keys);
      }),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.string({ maxLength: 40 }).filter((s) => !/\p{Cc}/u.test(s)),
        fc.uint8Array({ maxLength: 600 }),
        (fingerprint, hashAlgorithm, digest, purpose, sig) => {
          const ext = signRequest({ fingerprint, hashAlgorithm, digest, purpose });
          const decoded = decodeRequest(encodeRequest({ type: 'extension', extension: ext }));
          if (decoded.type !== 'extension' || decoded.extension.kind !== 'other') throw new Error('not an extension');
          expect(decodeSignRequest(decoded.extension.contents)).toEqual({ fingerprint, hashAlgorithm, digest, purpose });
          expect(decodeSignReply(viaWire(signReply(sig)))).toEqual(sig);
        },
      ),
    );
    const list = decodeRequest(encodeRequest({ type: 'extension', extension: keysRequest() }));
    if (list.type !== 'extension' || list.extension.kind !== 'other') throw new Error('not an extension');
    expect(list.extension.name).toBe(OpenPgpExtension.KEYS);
    expect(() => decodeKeysRequest(list.extension.kind === 'other' ? list.extension.contents : new Uint8Array(0))).not.toThrow();
    expect(() => decodeKeysRequest(Uint8Array.of(0))).toThrow(WireFormatError);
  });

  it('every truncation of a request or reply is a WireFormatError, never a RangeError', () => {
    const keys: OpenPgpKeyEntry[] = [
      { ident: 'FF00:00000001', slot: 'signature', fingerprint: new Uint8Array(20).fill(1), created: 1, parts: { algorithm: 1, n: new Uint8Array(256).fill(0xc3), e: Uint8Array.of(1, 0, 1) } },
      { ident: 'FF00:00000001', slot: 'decryption', fingerprint: new Uint8Array(20).fill(2), created: 2, parts: { algorithm: 18, oid: bytes('2b060104019755010501'), point: new Uint8Array(32) } },
    ];
    const reply = keysReply(keys);
    if (reply.type !== 'extension-response') throw new Error('unexpected');
    for (let cut = 0; cut < reply.contents.length; cut++) {
      expect(() => decodeKeysReply({ ...reply, contents: reply.contents.subarray(0, cut) }), `cut ${cut}`).toThrow(WireFormatError);
    }
    const req = signRequest({ fingerprint: new Uint8Array(20), hashAlgorithm: 10, digest: new Uint8Array(64), purpose: 'git tag' });
    if (req.kind !== 'other') throw new Error('unexpected');
    for (let cut = 0; cut < req.contents.length; cut++) {
      expect(() => decodeSignRequest(req.contents.subarray(0, cut)), `cut ${cut}`).toThrow(WireFormatError);
    }
    const sr = signReply(new Uint8Array(64));
    if (sr.type !== 'extension-response') throw new Error('unexpected');
    for (let cut = 0; cut < sr.contents.length; cut++) expect(() => decodeSignReply({ ...sr, contents: sr.contents.subarray(0, cut) })).toThrow(WireFormatError);
  });

  it('garbage never escapes as anything but WireFormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        for (const f of [() => decodeSignRequest(junk), () => decodeKeysReply({ type: 'extension-response', name: OpenPgpExtension.KEYS, contents: junk })]) {
          try {
            f();
          } catch (err) {
            expect(err).toBeInstanceOf(WireFormatError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a wrong fingerprint size, an unknown slot or algorithm, control characters in the purpose, a claimed count beyond the bytes', () => {
    const bad = signRequest({ fingerprint: new Uint8Array(19), hashAlgorithm: 8, digest: new Uint8Array(32), purpose: '' });
    expect(() => decodeSignRequest(bad.kind === 'other' ? bad.contents : new Uint8Array(0))).toThrow(/20 bytes/);
    const ctl = signRequest({ fingerprint: new Uint8Array(20), hashAlgorithm: 8, digest: new Uint8Array(32), purpose: 'sign\u001b[2Jthis' });
    expect(() => decodeSignRequest(ctl.kind === 'other' ? ctl.contents : new Uint8Array(0))).toThrow(/control/);
    const entry: OpenPgpKeyEntry = { ident: 'x', slot: 'authentication', fingerprint: new Uint8Array(20), created: 0, parts: { algorithm: 19, oid: Uint8Array.of(1), point: Uint8Array.of(4) } };
    const good = keysReply([entry]);
    if (good.type !== 'extension-response') throw new Error('unexpected');
    const slotAt = 4 + 4 + 1;
    const badSlot = Uint8Array.from(good.contents);
    badSlot[slotAt] = 9;
    expect(() => decodeKeysReply({ ...good, contents: badSlot })).toThrow(/slot 9/);
    const badAlg = Uint8Array.from(good.contents);
    badAlg[slotAt + 1 + 4 + 20 + 4] = 17;
    expect(() => decodeKeysReply({ ...good, contents: badAlg })).toThrow(/algorithm 17/);
    const bigCount = Uint8Array.from(good.contents);
    bigCount[0] = 0x7f;
    expect(() => decodeKeysReply({ ...good, contents: bigCount })).toThrow(/count/);
  });

  it('a refusal decodes as ExtensionRefusedError, telling "unsupported" from "failed"', () => {
    expect(() => decodeSignReply({ type: 'failure' })).toThrow(ExtensionRefusedError);
    expect(() => decodeKeysReply({ type: 'extension-failure' })).toThrow(/could not serve/);
    expect(() => decodeKeysReply({ type: 'failure' })).toThrow(/does not support/);
    expect(() => decodeSignReply({ type: 'extension-response', name: 'query', contents: new Uint8Array(0) })).toThrow(WireFormatError);
  });
});
