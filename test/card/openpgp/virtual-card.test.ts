import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OpenPgpCard, type HashName } from '../../../src/card/openpgp/openpgp-card.js';
import type { CardPublicKey } from '../../../src/card/openpgp/public-key.js';
import { CardStatusError, PinBlockedError, PinIncorrectError } from '../../../src/errors.js';
import { Secret } from '../../../src/secret.js';
import { InProcessTransport } from '../../../src/simulator/in-process-transport.js';
import { VirtualCard, type VirtualCardOptions } from '../../../src/simulator/virtual-card.js';

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function nodeKey(key: CardPublicKey): KeyObject {
  if (key.kind === 'rsa') return createPublicKey({ key: { kty: 'RSA', n: b64u(key.n), e: b64u(key.e) }, format: 'jwk' });
  if (key.kind === 'eddsa') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(key.point) }, format: 'jwk' });
  const size = (key.point.length - 1) / 2;
  const crv = { p256: 'P-256', p384: 'P-384', p521: 'P-521' }[key.curve];
  return createPublicKey({ key: { kty: 'EC', crv, x: b64u(key.point.subarray(1, 1 + size)), y: b64u(key.point.subarray(1 + size)) }, format: 'jwk' });
}

/** Verifies a raw card signature the way an SSH server would, with node:crypto. */
function verifies(key: CardPublicKey, message: Uint8Array, hash: HashName, sig: Uint8Array): boolean {
  const k = nodeKey(key);
  if (key.kind === 'eddsa') return verify(null, message, k, sig);
  if (key.kind === 'rsa') return verify(hash, message, k, sig);
  const curveHash = { p256: 'sha256', p384: 'sha384', p521: 'sha512' }[key.curve];
  return verify(curveHash, message, { key: k, dsaEncoding: 'ieee-p1363' }, sig);
}

async function openCard(options: VirtualCardOptions): Promise<{ card: OpenPgpCard; t: InProcessTransport; v: VirtualCard; trace: string[] }> {
  const v = await VirtualCard.create(options);
  const t = new InProcessTransport(v);
  const trace: string[] = [];
  const card = await OpenPgpCard.open(t, { tracer: (d, b) => trace.push(`${d} ${hex(b)}`) });
  return { card, t, v, trace };
}

const MESSAGE = new TextEncoder().encode('session identifier and userauth request to sign');
const PIN = new Secret('123456');

describe('host driver against the virtual card', () => {
  const cases = [
    ['rsa2048', 'rsa', ['sha1', 'sha256', 'sha512']],
    ['p256', 'ecdsa', ['sha256']],
    ['p384', 'ecdsa', ['sha384']],
    ['p521', 'ecdsa', ['sha512']],
    ['ed25519', 'eddsa', ['sha512']],
  ] as const;
  for (const [algo, kind, hashes] of cases) {
    it(`${algo}: open with SELECT + 6E, read the key, 6982 before VERIFY, then one APDU per verifying signature`, async () => {
      const { card, t, v, trace } = await openCard({ authAlgorithm: algo });
      // One SELECT, one GET DATA 6E (short Le: limits are unknown until 6E), plus a GET RESPONSE if 6E exceeds 256 bytes.
      const opening = trace.filter((l) => l.startsWith('command ')).map((l) => l.slice(8));
      expect(opening.slice(0, 2)).toEqual(['00a4040006d2760001240100', '00ca006e00']);
      expect(opening.slice(2).every((c) => c.startsWith('00c00000'))).toBe(true);
      expect(t.apduCount).toBeLessThanOrEqual(3);
      expect(card.ident).toBe(v.ident);
      expect(card.channel.getLimits().extended).toBe(true);
      const key = await card.readAuthPublicKey();
      expect(key.kind).toBe(kind);
      expect(await card.readAuthKey()).toEqual(key);
      const err = await card.authenticate(MESSAGE, hashes[0]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CardStatusError);
      expect((err as CardStatusError).sw).toBe(0x6982);
      await card.verifyPw1(PIN);
      expect(await card.pw1VerifiedState()).toEqual({ verified: true });
      for (const hash of hashes) {
        const before = t.apduCount;
        const sig = await card.authenticate(MESSAGE, hash);
        expect(t.apduCount - before).toBe(1);
        expect(verifies(key, MESSAGE, hash, sig)).toBe(true);
        expect(verifies(key, new TextEncoder().encode('something else'), hash, sig)).toBe(false);
      }
    });
  }

  it('short-only mode: 61xx for 6E and the RSA key, chaining for a long EdDSA message', async () => {
    const { card: rsa, t } = await openCard({ authAlgorithm: 'rsa2048', extendedLength: false });
    expect(rsa.channel.getLimits()).toEqual({ extended: false, maxCommand: 255, maxResponse: 256 });
    const before = t.apduCount;
    const key = await rsa.readAuthPublicKey();
    expect(t.apduCount - before).toBeGreaterThan(1); // 7F49 of ~270 bytes does not fit one short response
    await rsa.verifyPw1(PIN);
    expect(verifies(key, MESSAGE, 'sha256', await rsa.authenticate(MESSAGE, 'sha256'))).toBe(true);

    const { card: ed, trace } = await openCard({ authAlgorithm: 'ed25519', extendedLength: false });
    const edKey = await ed.readAuthPublicKey();
    await ed.verifyPw1(PIN);
    const long = new Uint8Array(700).map((_, i) => (i * 7) & 0xff);
    expect(verifies(edKey, long, 'sha512', await ed.authenticate(long, 'sha512'))).toBe(true);
    const commands = trace.filter((l) => l.startsWith('command ')).map((l) => l.slice(8));
    expect(commands.filter((c) => c.startsWith('10880000ff'))).toHaveLength(2);
    expect(commands.every((c) => c.length / 2 <= 5 + 255 + 1)).toBe(true);
  });

  it('KDF on: VERIFY sends the derived value and works; a wrong PIN still counts down', async () => {
    const { card, trace } = await openCard({ authAlgorithm: 'p256', kdf: true });
    expect(card.applicationData.kdfSupported).toBe(true);
    const key = await card.readAuthPublicKey();
    await expect(card.verifyPw1(new Secret('654321'))).rejects.toSatisfy((e) => e instanceof PinIncorrectError && e.retriesLeft === 2);
    await card.verifyPw1(PIN);
    expect(verifies(key, MESSAGE, 'sha256', await card.authenticate(MESSAGE, 'sha256'))).toBe(true);
    // F9 was read once, then cached.
    expect(trace.filter((l) => l.startsWith('command 00ca00f9'))).toHaveLength(1);
    // The derived value is 32 bytes (SHA-256) or 64 (SHA-512), never the 6-byte PIN; and the tracer saw it blanked.
    const verifies_ = trace.filter((l) => l.startsWith('command 0020008'));
    expect(verifies_.length).toBe(2);
    for (const l of verifies_) expect(['20', '40']).toContain(l.slice(16, 18));
  });

  it('wrong PIN counts down 3 → 2 → 1 → blocked, as errors and as PW status', async () => {
    const { card } = await openCard({ authAlgorithm: 'ed25519' });
    expect(await card.pw1Retries()).toBe(3);
    for (const left of [2, 1]) {
      await expect(card.verifyPw1(new Secret('000000'))).rejects.toSatisfy((e) => e instanceof PinIncorrectError && e.retriesLeft === left);
      expect(await card.pw1Retries()).toBe(left);
      expect(await card.pw1VerifiedState()).toEqual({ verified: false, retriesLeft: left });
    }
    const third = await card.verifyPw1(new Secret('000000')).catch((e: unknown) => e);
    // The third wrong try answers 63C0 (no tries left), as real cards do; only later tries get 6983.
    // Either way the PIN is blocked now, and the error says so.
    expect(third).toBeInstanceOf(PinBlockedError);
    expect((third as PinBlockedError).sw).toBe(0x63c0);
    expect((third as PinBlockedError).retriesLeft).toBe(0);
    expect(await card.pw1Status()).toMatchObject({ retriesPw1: 0, retriesPw3: 3 });
    await expect(card.verifyPw1(PIN)).rejects.toBeInstanceOf(PinBlockedError);
    expect(await card.pw1VerifiedState()).toEqual({ verified: false, retriesLeft: 0 });
  });

  it('a correct PIN resets the counter; resetPw1Status forgets the verification', async () => {
    const { card } = await openCard({ authAlgorithm: 'p384' });
    await expect(card.verifyPw1(new Secret('000000'))).rejects.toBeInstanceOf(PinIncorrectError);
    await card.verifyPw1(PIN);
    expect(await card.pw1Retries()).toBe(3);
    await card.resetPw1Status();
    expect(await card.pw1VerifiedState()).toEqual({ verified: false, retriesLeft: 3 });
    await expect(card.authenticate(MESSAGE, 'sha384')).rejects.toMatchObject({ sw: 0x6982 });
  });

  it('after a card reset, reselect (one SELECT) and the PIN is needed again', async () => {
    const { card, t } = await openCard({ authAlgorithm: 'ed25519' });
    await card.verifyPw1(PIN);
    t.remove();
    t.reinsert();
    const before = t.apduCount;
    await card.select();
    expect(t.apduCount - before).toBe(1);
    await expect(card.authenticate(MESSAGE, 'sha512')).rejects.toMatchObject({ sw: 0x6982 });
    await card.verifyPw1(PIN);
    const sig = await card.authenticate(MESSAGE, 'sha512');
    expect(verifies(await card.readAuthPublicKey(), MESSAGE, 'sha512', sig)).toBe(true);
  });

  it('the tracer never sees the PIN, in plain or KDF mode', async () => {
    for (const kdf of [false, true]) {
      const { card, trace } = await openCard({ authAlgorithm: 'ed25519', kdf, userPin: '975310' });
      await card.verifyPw1(new Secret('975310'));
      expect(trace.join('\n')).not.toContain(hex(new TextEncoder().encode('975310')));
      expect(trace.some((l) => /^command 002000820[0-9a-f](ff)+$/.test(l) || /^command 0020008(2|1)(20|40)(ff)+$/.test(l))).toBe(true);
    }
  });
});
