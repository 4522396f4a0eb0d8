import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import { decodeQueryReply, queryResponse } from '../../src/protocol/extension.js';
import type { Request, Response } from '../../src/protocol/messages.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse, encodeResponse } from '../../src/protocol/response.js';
import { Secret } from '../../src/secret.js';

const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const blob = b(0, 0, 0, 11, ...Buffer.from('ssh-ed25519'), 0, 0, 0, 2, 1, 2);

const requests: [string, Request, number][] = [
  ['REQUEST_IDENTITIES', { type: 'request-identities' }, 11],
  ['SIGN_REQUEST', { type: 'sign-request', keyBlob: blob, data: b(9, 8, 7), flags: 4 }, 13],
  [
    'ADD_IDENTITY ed25519',
    { type: 'add-identity', key: { keyType: 'ssh-ed25519', publicKey: b(1, 2), privateKey: b(3, 4) }, comment: 'c' },
    17,
  ],
  [
    'ADD_IDENTITY rsa',
    {
      type: 'add-identity',
      key: { keyType: 'ssh-rsa', n: b(0, 0x80), e: b(1, 0, 1), d: b(5), iqmp: b(6), p: b(7), q: b(8) },
      comment: 'rsa',
    },
    17,
  ],
  [
    'ADD_IDENTITY unknown type keeps raw',
    { type: 'add-identity', key: { keyType: 'unknown', name: 'ssh-ed25519-cert-v01@openssh.com' }, raw: b(1, 2, 3) },
    17,
  ],
  [
    'ADD_ID_CONSTRAINED ecdsa + every constraint kind',
    {
      type: 'add-id-constrained',
      key: { keyType: 'ecdsa-sha2-nistp256', curve: 'nistp256', q: b(4, 1, 2), d: b(3) },
      comment: 'e',
      constraints: [
        { kind: 'lifetime', seconds: 3600 },
        { kind: 'confirm' },
        { kind: 'maxsign', maxSignatures: 10 },
        { kind: 'extension', name: 'sk-provider@openssh.com', contents: b(0, 0, 0, 1, 0x41) },
        { kind: 'extension', name: 'associated-certs-v00@openssh.com', contents: b(1, 0, 0, 0, 0) },
        { kind: 'extension', name: 'restrict-destination-v00@openssh.com', contents: b(0, 0, 0, 0) },
        { kind: 'extension', name: 'future@example.com', contents: b(1, 2, 3) },
      ],
    },
    25,
  ],
  ['REMOVE_IDENTITY', { type: 'remove-identity', keyBlob: blob }, 18],
  ['REMOVE_ALL_IDENTITIES', { type: 'remove-all-identities' }, 19],
  ['ADD_SMARTCARD_KEY', { type: 'add-smartcard-key', readerId: 'Yubico YubiKey 00', pin: new Secret('123456') }, 20],
  [
    'ADD_SMARTCARD_KEY_CONSTRAINED',
    {
      type: 'add-smartcard-key-constrained',
      readerId: 'r',
      pin: new Secret('123456'),
      constraints: [{ kind: 'lifetime', seconds: 1 }, { kind: 'confirm' }],
    },
    26,
  ],
  ['REMOVE_SMARTCARD_KEY', { type: 'remove-smartcard-key', readerId: 'r', pin: new Secret('') }, 21],
  ['LOCK', { type: 'lock', passphrase: new Secret('pw') }, 22],
  ['UNLOCK', { type: 'unlock', passphrase: new Secret('pw') }, 23],
  ['EXTENSION query', { type: 'extension', extension: { kind: 'query' } }, 27],
  [
    'EXTENSION session-bind',
    {
      type: 'extension',
      extension: { kind: 'session-bind', hostKey: blob, sessionId: b(1, 2, 3), signature: b(4), forwarding: true },
    },
    27,
  ],
  ['EXTENSION other', { type: 'extension', extension: { kind: 'other', name: 'x@example.com', contents: b(1, 2) } }, 27],
  ['unknown', { type: 'unknown', code: 200, body: b(1, 2, 3) }, 200],
];

const responses: [string, Response, number][] = [
  ['FAILURE', { type: 'failure' }, 5],
  ['SUCCESS', { type: 'success' }, 6],
  ['SUCCESS with contents (an extension reply)', { type: 'success', contents: b(0, 0, 0, 1, 0x61) }, 6],
  ['EXTENSION_RESPONSE query', queryResponse(['query', 'session-bind@openssh.com']), 29],
  [
    'IDENTITIES_ANSWER',
    { type: 'identities-answer', identities: [{ keyBlob: blob, comment: 'a' }, { keyBlob: blob, comment: 'ü' }] },
    12,
  ],
  ['SIGN_RESPONSE', { type: 'sign-response', signature: b(1, 2, 3) }, 14],
  ['EXTENSION_FAILURE', { type: 'extension-failure' }, 28],
  ['EXTENSION_RESPONSE', { type: 'extension-response', name: 'x@example.com', contents: b(7) }, 29],
  ['unknown', { type: 'unknown', code: 99, body: b() }, 99],
];

/** Secrets compare by their bytes. */
const normal = (m: unknown): unknown =>
  JSON.parse(
    JSON.stringify(m, (_k, v: unknown) =>
      v instanceof Secret ? { secret: v.revealString() } : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    ),
  );

describe('request codec', () => {
  it.each(requests)('%s round-trips', (_name, msg, code) => {
    const bytes = encodeRequest(msg);
    expect(bytes[0]).toBe(code);
    const back = decodeRequest(bytes);
    expect(normal(back)).toEqual(normal(msg));
    expect(encodeRequest(back)).toEqual(bytes);
  });

  it('encodes SIGN_REQUEST as the draft lays it out', () => {
    const bytes = encodeRequest({ type: 'sign-request', keyBlob: b(0xaa), data: b(0xbb, 0xcc), flags: 2 });
    expect(Buffer.from(bytes).toString('hex')).toBe('0d' + '00000001aa' + '00000002bbcc' + '00000002');
  });

  it('rejects trailing bytes, bad constraint codes and bad session-bind flags', () => {
    expect(() => decodeRequest(b(11, 0))).toThrow(WireFormatError);
    const smart = encodeRequest({ type: 'add-smartcard-key-constrained', readerId: 'r', pin: new Secret('1'), constraints: [] });
    expect(() => decodeRequest(Uint8Array.from([...smart, 77]))).toThrow(/unknown key constraint 77/);
    const bind = encodeRequest({
      type: 'extension',
      extension: { kind: 'session-bind', hostKey: b(), sessionId: b(), signature: b(), forwarding: false },
    });
    const bad = Uint8Array.from(bind);
    bad[bad.length - 1] = 2;
    expect(() => decodeRequest(bad)).toThrow(WireFormatError);
    expect(() => decodeRequest(Uint8Array.from([...encodeRequest({ type: 'extension', extension: { kind: 'query' } }), 0]))).toThrow(
      WireFormatError,
    );
  });

  it.each(['toString', 'valueOf', 'constructor', '__proto__', 'hasOwnProperty'])(
    'a constraint extension named %s is an unknown extension that keeps its bytes (no prototype lookup)',
    (name) => {
      const msg: Request = {
        type: 'add-smartcard-key-constrained',
        readerId: 'r',
        pin: new Secret('1'),
        constraints: [{ kind: 'extension', name, contents: b(0, 0, 0, 1, 7) }],
      };
      const back = decodeRequest(encodeRequest(msg));
      expect(back.type === 'add-smartcard-key-constrained' && back.constraints).toEqual([{ kind: 'extension', name, contents: b(0, 0, 0, 1, 7) }]);
    },
  );

  it('refuses to encode a known code as unknown', () => {
    expect(() => encodeRequest({ type: 'unknown', code: 11, body: b() })).toThrow(WireFormatError);
  });
});

describe('response codec', () => {
  it.each(responses)('%s round-trips', (_name, msg, code) => {
    const bytes = encodeResponse(msg);
    expect(bytes[0]).toBe(code);
    const back = decodeResponse(bytes);
    expect(normal(back)).toEqual(normal(msg));
    expect(encodeResponse(back)).toEqual(bytes);
  });

  it('bounds the identity count by the bytes present', () => {
    expect(() => decodeResponse(b(12, 0xff, 0xff, 0xff, 0xff))).toThrow(/identity count/);
  });

  it('writes the query reply as EXTENSION_RESPONSE "query" + one string wrapping the names', () => {
    const hex = Buffer.from(encodeResponse(queryResponse(['query', 'session-bind@openssh.com']))).toString('hex');
    const str = (t: string): string => Buffer.from(t).length.toString(16).padStart(8, '0') + Buffer.from(t).toString('hex');
    const names = str('query') + str('session-bind@openssh.com');
    expect(hex).toBe('1d' + str('query') + (names.length / 2).toString(16).padStart(8, '0') + names);
  });

  it('reads every query reply shape found in the wild', () => {
    const names = ['query', 'session-bind@openssh.com'];
    const flat = (ns: string[]): Uint8Array =>
      Uint8Array.from(ns.flatMap((n) => [0, 0, 0, n.length, ...Buffer.from(n)]));
    // Ours (wrapped), flat after the echoed name, and pivy-agent's SUCCESS + count.
    expect(decodeQueryReply(decodeResponse(encodeResponse(queryResponse(names))))).toEqual(names);
    expect(decodeQueryReply(queryResponse([]))).toEqual([]);
    expect(decodeQueryReply({ type: 'extension-response', name: 'query', contents: flat(names) })).toEqual(names);
    // A flat list of one name also starts with "the rest's length".
    expect(decodeQueryReply({ type: 'extension-response', name: 'query', contents: flat(['query']) })).toEqual(['query']);
    expect(decodeQueryReply({ type: 'success', contents: Uint8Array.from([0, 0, 0, 2, ...flat(names)]) })).toEqual(names);
    expect(() => decodeQueryReply({ type: 'success', contents: b(0, 0, 0, 9) })).toThrow(WireFormatError);
    expect(() => decodeQueryReply({ type: 'failure' })).toThrow(WireFormatError);
    expect(() => decodeQueryReply({ type: 'extension-response', name: 'other@example.com', contents: b() })).toThrow(
      WireFormatError,
    );
    expect(() => decodeQueryReply({ type: 'extension-response', name: 'query', contents: b(0, 0, 0, 7, 1) })).toThrow(
      WireFormatError,
    );
  });

  it('allows SUCCESS contents only in answer to an extension when told the request type', () => {
    const withContents = b(6, 0, 0, 0, 0);
    expect(decodeResponse(withContents)).toEqual({ type: 'success', contents: b(0, 0, 0, 0) });
    expect(decodeResponse(withContents, 'extension')).toEqual({ type: 'success', contents: b(0, 0, 0, 0) });
    expect(() => decodeResponse(withContents, 'lock')).toThrow(WireFormatError);
    expect(decodeResponse(b(6), 'lock')).toEqual({ type: 'success' });
  });
});
