import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import { decodeQueryReply, queryResponse } from '../../src/protocol/extension.js';
import type { Constraint, PrivateKey, Request, Response } from '../../src/protocol/messages.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse, encodeResponse } from '../../src/protocol/response.js';
import { Secret } from '../../src/secret.js';
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

/** Arbitrary well-formed messages of every kind the codecs know. */
const bytes = (maxLength = 40): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const text = fc.string({ maxLength: 20, unit: 'grapheme' });
const u32 = fc.nat({ max: 0xffffffff });
const secret = fc.uint8Array({ maxLength: 20 }).map((b) => new Secret(b));
/** Constraints without the free-form extension, whose contents run to the end of the message. */
const delimitedConstraint: fc.Arbitrary<Constraint> = fc.oneof(
  u32.map((seconds) => ({ kind: 'lifetime' as const, seconds })),
  fc.constant({ kind: 'confirm' as const }),
  u32.map((maxSignatures) => ({ kind: 'maxsign' as const, maxSignatures })),
  bytes().map((b) => ({ kind: 'extension' as const, name: 'sk-provider@openssh.com', contents: sshString(b) })),
);
const constraints = fc
  .tuple(fc.array(delimitedConstraint, { maxLength: 4 }), fc.option(fc.tuple(text, bytes()), { nil: undefined }))
  .map(([cs, tail]) =>
    tail === undefined || tail[0] === 'sk-provider@openssh.com' || tail[0].endsWith('-v00@openssh.com')
      ? cs
      : [...cs, { kind: 'extension' as const, name: tail[0], contents: tail[1] }],
  );

function sshString(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}

const privateKey: fc.Arbitrary<PrivateKey> = fc.oneof(
  fc.record({ keyType: fc.constant('ssh-ed25519' as const), publicKey: bytes(), privateKey: bytes() }),
  fc.record({
    keyType: fc.constantFrom('ecdsa-sha2-nistp256' as const, 'ecdsa-sha2-nistp384' as const, 'ecdsa-sha2-nistp521' as const),
    curve: text,
    q: bytes(),
    d: bytes(),
  }),
  fc.record({ keyType: fc.constant('ssh-rsa' as const), n: bytes(), e: bytes(), d: bytes(), iqmp: bytes(), p: bytes(), q: bytes() }),
);

const request: fc.Arbitrary<Request> = fc.oneof(
  fc.constant({ type: 'request-identities' as const }),
  fc.record({ type: fc.constant('sign-request' as const), keyBlob: bytes(), data: bytes(), flags: u32 }),
  fc.record({ type: fc.constant('add-identity' as const), key: privateKey, comment: text }),
  fc.record({ type: fc.constant('add-id-constrained' as const), key: privateKey, comment: text, constraints }),
  fc.record({ type: fc.constant('remove-identity' as const), keyBlob: bytes() }),
  fc.constant({ type: 'remove-all-identities' as const }),
  fc.record({ type: fc.constant('add-smartcard-key' as const), readerId: text, pin: secret }),
  fc.record({ type: fc.constant('add-smartcard-key-constrained' as const), readerId: text, pin: secret, constraints }),
  fc.record({ type: fc.constant('remove-smartcard-key' as const), readerId: text, pin: secret }),
  fc.record({ type: fc.constantFrom('lock' as const, 'unlock' as const), passphrase: secret }),
  fc.constant({ type: 'extension' as const, extension: { kind: 'query' as const } }),
  fc.record({
    type: fc.constant('extension' as const),
    extension: fc.record({
      kind: fc.constant('session-bind' as const),
      hostKey: bytes(),
      sessionId: bytes(),
      signature: bytes(),
      forwarding: fc.boolean(),
    }),
  }),
  fc.record({
    type: fc.constant('extension' as const),
    extension: fc.record({
      kind: fc.constant('other' as const),
      name: text.filter((n) => n !== 'query' && n !== 'session-bind@openssh.com'),
      contents: bytes(),
    }),
  }),
  fc.record({
    type: fc.constant('unknown' as const),
    code: fc.nat(255).filter((c) => ![11, 13, 17, 18, 19, 20, 21, 22, 23, 25, 26, 27].includes(c)),
    body: bytes(),
  }),
);

const response: fc.Arbitrary<Response> = fc.oneof(
  fc.constant({ type: 'failure' as const }),
  fc.constant({ type: 'success' as const }),
  fc.record({ type: fc.constant('success' as const), contents: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    type: fc.constant('identities-answer' as const),
    identities: fc.array(fc.record({ keyBlob: bytes(), comment: text }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('sign-response' as const), signature: bytes() }),
  fc.constant({ type: 'extension-failure' as const }),
  fc.record({ type: fc.constant('extension-response' as const), name: text, contents: bytes() }),
  fc.array(text, { maxLength: 5 }).map((names) => queryResponse(names)),
  fc.record({
    type: fc.constant('unknown' as const),
    code: fc.nat(255).filter((c) => ![5, 6, 12, 14, 28, 29].includes(c)),
    body: bytes(),
  }),
);

/** Secrets and byte views compare by content. */
const plain = (m: unknown): unknown =>
  JSON.parse(
    JSON.stringify(m, (_k, v: unknown) =>
      v instanceof Secret ? { secret: Buffer.from(v.reveal()).toString('hex') } : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    ),
  );

describe('codecs on random well-formed messages', () => {
  it('every request encodes, decodes to the same message and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(request, (msg) => {
        const body = encodeRequest(msg);
        const back = decodeRequest(body);
        expect(plain(back)).toEqual(plain(msg));
        expect(Buffer.from(encodeRequest(back)).equals(Buffer.from(body))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('every response does too, and query replies give back their names', () => {
    fc.assert(
      fc.property(response, (msg) => {
        const body = encodeResponse(msg);
        const back = decodeResponse(body);
        expect(plain(back)).toEqual(plain(msg));
        expect(Buffer.from(encodeResponse(back)).equals(Buffer.from(body))).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.array(text, { maxLength: 6 }), (names) => {
        expect(decodeQueryReply(decodeResponse(encodeResponse(queryResponse(names)), 'extension'))).toEqual(names);
      }),
    );
  });
});
