import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UnsupportedError, WireFormatError } from '../../src/errors.js';
import { decodeRequest } from '../../src/protocol/request.js';
import { decodeResponse } from '../../src/protocol/response.js';
import { formatAuthorizedKey, parseAuthorizedKey } from '../../src/ssh/authorized-keys.js';
import { sha256Fingerprint } from '../../src/ssh/fingerprint.js';
import { ECDSA_CURVES, type EcdsaKeyType } from '../../src/ssh/key-types.js';
import { encodePublicKey, parsePublicKey } from '../../src/ssh/public-key.js';
import {
  ecdsaSignatureFromDer,
  ecdsaSignatureFromRaw,
  encodeSignature,
  parseSignature,
  rsaAlgorithmForFlags,
} from '../../src/ssh/signature.js';
import { sshPublicKeyBlobFromKeyObject, verifySshSignature } from '../../src/ssh/verify.js';
import { loadOpenSshFrames } from '../protocol/openssh-frames.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../fixtures/ssh/${name}`, import.meta.url)), 'utf8');

const frames = loadOpenSshFrames();
const identities = (() => {
  const f = frames.find((x) => x.command === 'ssh-add -L' && x.dir === 'response')!;
  const r = decodeResponse(f.body);
  if (r.type !== 'identities-answer') throw new Error(r.type);
  return r.identities;
})();

/** SIGN_REQUEST/SIGN_RESPONSE pairs recorded from OpenSSH, per command. */
const signPairs = (() => {
  const out: { command: string; keyBlob: Uint8Array; data: Uint8Array; flags: number; signature: Uint8Array }[] = [];
  for (let i = 0; i + 1 < frames.length; i++) {
    const q = frames[i]!;
    const a = frames[i + 1]!;
    if (q.dir !== 'request' || a.dir !== 'response' || q.conn !== a.conn) continue;
    const req = decodeRequest(q.body);
    const resp = decodeResponse(a.body);
    if (req.type === 'sign-request' && resp.type === 'sign-response') {
      out.push({ command: q.command, keyBlob: req.keyBlob, data: req.data, flags: req.flags, signature: resp.signature });
    }
  }
  return out;
})();

describe('public key blobs', () => {
  it('parses and re-encodes every OpenSSH key byte-identically', () => {
    expect(identities).toHaveLength(5);
    for (const id of identities) expect(encodePublicKey(parsePublicKey(id.keyBlob))).toEqual(id.keyBlob);
  });

  it('fingerprints match ssh-add -l', () => {
    const lines = fixture('ssh-add-l.txt').trim().split('\n');
    expect(identities.map((i) => sha256Fingerprint(i.keyBlob))).toEqual(lines.map((l) => l.split(' ')[1]));
  });

  it('authorized_keys lines match ssh-add -L and parse back', () => {
    const lines = fixture('ssh-add-L.txt').trim().split('\n');
    expect(identities.map((i) => formatAuthorizedKey(i.keyBlob, i.comment))).toEqual(lines);
    for (const [i, line] of lines.entries()) {
      const k = parseAuthorizedKey(line);
      expect(k.keyBlob).toEqual(identities[i]!.keyBlob);
      expect(k.comment).toBe(identities[i]!.comment);
    }
    expect(() => parseAuthorizedKey(lines[0]!.replace('ssh-ed25519', 'ssh-rsa'))).toThrow(WireFormatError);
    expect(() => parseAuthorizedKey('ssh-ed25519 not*base64')).toThrow(WireFormatError);
  });

  it('builds the same blob from node:crypto keys as OpenSSH would (round trip through JWK)', () => {
    const keys: KeyObject[] = [
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    ];
    for (const k of keys) {
      const blob = sshPublicKeyBlobFromKeyObject(k);
      const parsed = parsePublicKey(blob);
      expect(encodePublicKey(parsed)).toEqual(blob);
    }
  });

  it('rejects malformed and unsupported blobs with typed errors', () => {
    const ed = identities[0]!.keyBlob;
    expect(() => parsePublicKey(ed.subarray(0, ed.length - 1))).toThrow(WireFormatError);
    expect(() => parsePublicKey(Uint8Array.from([...ed, 0]))).toThrow(WireFormatError);
    const ecdsa = Uint8Array.from(identities[1]!.keyBlob);
    ecdsa[ecdsa.length - 65] = 0x02; // compressed-point marker
    expect(() => parsePublicKey(ecdsa)).toThrow(WireFormatError);
    expect(() => parsePublicKey(Uint8Array.from([0, 0, 0, 7, ...Buffer.from('ssh-dss')]))).toThrow(UnsupportedError);
  });
});

describe('signature blobs and verification', () => {
  it('verifies every signature OpenSSH made, and parses/re-encodes it byte-identically', () => {
    expect(signPairs.length).toBeGreaterThanOrEqual(9);
    for (const p of signPairs) {
      expect(verifySshSignature(p.keyBlob, p.data, p.signature), p.command).toBe(true);
      expect(encodeSignature(parseSignature(p.signature))).toEqual(p.signature);
    }
  });

  it('rejects a changed byte in the data or signature, and a signature by another key', () => {
    for (const p of signPairs) {
      const data = Uint8Array.from(p.data);
      data[data.length - 1]! ^= 1;
      expect(verifySshSignature(p.keyBlob, data, p.signature)).toBe(false);
      const sig = Uint8Array.from(p.signature);
      sig[sig.length - 2]! ^= 0x40;
      expect(verifySshSignature(p.keyBlob, p.data, sig)).toBe(false);
      const other = identities.find((i) => !Buffer.from(i.keyBlob).equals(Buffer.from(p.keyBlob)))!;
      expect(verifySshSignature(other.keyBlob, p.data, p.signature)).toBe(false);
    }
  });

  it('RSA: OpenSSH used rsa-sha2-512 for flags=4; relabelling the algorithm breaks verification', () => {
    const rsa = signPairs.find((p) => p.command === 'ssh-keygen -Y sign id_rsa.pub')!;
    expect(rsa.flags).toBe(4);
    const sig = parseSignature(rsa.signature);
    expect(sig.algorithm).toBe(rsaAlgorithmForFlags(rsa.flags));
    if (!('signature' in sig)) throw new Error('not RSA');
    const relabelled = encodeSignature({ algorithm: 'rsa-sha2-256', signature: sig.signature });
    expect(verifySshSignature(rsa.keyBlob, rsa.data, relabelled)).toBe(false);
  });

  it('verifies node:crypto RSA signatures for each algorithm', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const blob = sshPublicKeyBlobFromKeyObject(publicKey);
    const data = Buffer.from('data to sign');
    for (const [algorithm, hash] of [
      ['ssh-rsa', 'sha1'],
      ['rsa-sha2-256', 'sha256'],
      ['rsa-sha2-512', 'sha512'],
    ] as const) {
      const s = encodeSignature({ algorithm, signature: sign(hash, data, privateKey) });
      expect(verifySshSignature(blob, data, s)).toBe(true);
    }
    expect(rsaAlgorithmForFlags(0)).toBe('ssh-rsa');
    expect(rsaAlgorithmForFlags(2)).toBe('rsa-sha2-256');
    expect(rsaAlgorithmForFlags(6)).toBe('rsa-sha2-512');
  });

  it.each(Object.entries(ECDSA_CURVES))('builds a %s blob from a card-style raw r||s', (type, curve) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve.jwkCurve });
    const blob = sshPublicKeyBlobFromKeyObject(publicKey);
    const data = Buffer.from('ecdsa data');
    for (let i = 0; i < 8; i++) {
      const raw = sign(curve.hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(raw).toHaveLength(2 * curve.fieldBytes);
      const sigBlob = ecdsaSignatureFromRaw(type as EcdsaKeyType, raw);
      expect(verifySshSignature(blob, data, sigBlob)).toBe(true);
      expect(verifySshSignature(blob, Buffer.from('other data'), sigBlob)).toBe(false);
    }
    expect(() => ecdsaSignatureFromRaw(type as EcdsaKeyType, new Uint8Array(2 * curve.fieldBytes - 1))).toThrow(
      WireFormatError,
    );
  });

  it('encodes ECDSA r/s as minimal mpints (leading zeros dropped, 00 before a high bit)', () => {
    const raw = new Uint8Array(64);
    raw[31] = 0x01; // r = 1
    raw[32] = 0x80; // s has its top bit set
    const blob = ecdsaSignatureFromRaw('ecdsa-sha2-nistp256', raw);
    const inner = Buffer.from(blob.subarray(4 + 19 + 4)).toString('hex');
    expect(inner.startsWith('00000001' + '01' + '00000021' + '0080')).toBe(true);
    const parsed = parseSignature(blob);
    expect('r' in parsed && Array.from(parsed.r)).toEqual([1]);
  });

  it('verifies ed25519 and rejects mismatched algorithms and garbage', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const blob = sshPublicKeyBlobFromKeyObject(publicKey);
    const data = Buffer.from('ed data');
    const sig = encodeSignature({ algorithm: 'ssh-ed25519', signature: sign(null, data, privateKey) });
    expect(verifySshSignature(blob, data, sig)).toBe(true);
    const ecdsaSig = ecdsaSignatureFromRaw('ecdsa-sha2-nistp256', new Uint8Array(64).fill(1));
    expect(verifySshSignature(blob, data, ecdsaSig)).toBe(false);
    expect(verifySshSignature(blob, data, Uint8Array.of(1, 2, 3))).toBe(false);
    expect(verifySshSignature(Uint8Array.of(0, 0, 0, 1), data, sig)).toBe(false);
  });

  it.each(Object.entries(ECDSA_CURVES))('%s: a DER signature from node:crypto becomes the same blob as its raw r||s', (type, curve) => {
    const t = type as EcdsaKeyType;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve.jwkCurve });
    const blob = sshPublicKeyBlobFromKeyObject(publicKey);
    // Several signatures, so that short r/s (DER drops leading zeros) and high-bit r/s (DER adds 00) both show up.
    for (let i = 0; i < 8; i++) {
      const data = Buffer.from(`der data ${i}`);
      const der = sign(curve.hash, data, privateKey);
      const sigBlob = ecdsaSignatureFromDer(t, der);
      expect(verifySshSignature(blob, data, sigBlob)).toBe(true);
      const raw = sign(curve.hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(verifySshSignature(blob, data, ecdsaSignatureFromRaw(t, raw))).toBe(true);
    }
  });

  it('refuses malformed DER ECDSA signatures with WireFormatError only', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const der = sign('sha512', Buffer.from('x'), privateKey);
    // P-521 signatures need the long length form (0x81): every prefix and a bad tag must fail cleanly.
    expect(der[1]).toBe(0x81);
    for (let n = 0; n < der.length; n++) {
      expect(() => ecdsaSignatureFromDer('ecdsa-sha2-nistp521', der.subarray(0, n))).toThrow(WireFormatError);
    }
    const cases = [
      Uint8Array.of(0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01), // SET, not SEQUENCE
      Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01), // negative r
      Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01), // zero r
      Uint8Array.of(0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00), // junk inside the SEQUENCE
      Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00), // junk after it
      Uint8Array.of(0x30, 0x84, 0, 0, 0, 6, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01), // 4-byte length form
    ];
    for (const c of cases) expect(() => ecdsaSignatureFromDer('ecdsa-sha2-nistp256', c)).toThrow(WireFormatError);
    // r of 33 significant bytes cannot be a P-256 value.
    const big = Uint8Array.of(0x30, 0x26, 0x02, 0x21, ...new Array<number>(33).fill(0x11), 0x02, 0x01, 0x01);
    expect(() => ecdsaSignatureFromDer('ecdsa-sha2-nistp256', big)).toThrow(/longer than 32/);
    const ok = ecdsaSignatureFromDer('ecdsa-sha2-nistp256', Uint8Array.of(0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x05));
    const parsed = parseSignature(ok);
    expect('r' in parsed && [Array.from(parsed.r), Array.from(parsed.s)]).toEqual([[0x80], [5]]);
  });
});
