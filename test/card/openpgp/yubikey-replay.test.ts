import { createPublicKey, verify } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { Iso7816Channel } from '../../../src/card/iso7816/channel.js';
import { computeDigitalSignature, verify as verifyPin } from '../../../src/card/openpgp/commands.js';
import { OpenPgpCard } from '../../../src/card/openpgp/openpgp-card.js';
import { parseAlgorithmAttributes, parsePublicKeyTemplate } from '../../../src/card/openpgp/public-key.js';
import { ReplayTransport, type RecordedApdu } from '../../../src/simulator/replay-transport.js';
import { CardStatusError, PinIncorrectError } from '../../../src/errors.js';
import { Secret } from '../../../src/secret.js';
import { hex, replay, unhex, yubikey } from './fixtures.js';

// 7F66 says 0BFE for both: a command's header, Lc and Le (9 bytes) count against it; Le asks
// for 0BFE as GnuPG and go-openpgp-card do (the recordings show the card answering that).
const YK_LIMITS = { extended: true, maxCommand: 0x0bfe - 9, maxResponse: 0x0bfe } as const;

async function openYubiKey(...more: RecordedApdu[][]): Promise<{ card: OpenPgpCard; t: ReplayTransport }> {
  const t = new ReplayTransport([...replay('open_ard_613f'), ...more.flat()]);
  return { card: await OpenPgpCard.open(t), t };
}

describe('YubiKey 5 (fw 5.4.3) replays: opening the card', () => {
  it('SELECT, then 6E in two parts (613F + GET RESPONSE): exactly the recorded APDUs', async () => {
    const { card, t } = await openYubiKey();
    expect(t.done).toBe(true);
    expect(t.sent).toEqual(['00a4040006d2760001240100', '00ca006e00', '00c000003f']);
    expect(card.apduCount).toBe(3);
    const a = card.applicationData;
    expect(card.ident).toBe('0006:23852774');
    expect(a.aid).toMatchObject({ version: '3.4', manufacturer: 6, serial: 0x23852774 });
    expect(hex(a.aid.raw)).toBe(yubikey.aid);
    expect(hex(a.historicalBytes!)).toBe('00730000e0059000');
    expect(a.extendedCapabilities).toEqual({
      secureMessaging: false,
      getChallenge: true,
      keyImport: true,
      pwStatusChangeable: true,
      privateDos: true,
      algorithmAttributesChangeable: true,
      aes: false,
      kdf: true,
      smAlgorithm: 0,
      maxChallenge: 0x0bfe,
      maxCertificate: 0x0800,
      maxSpecialDo: 0x00ff,
      pinBlock2: false,
      mseForKeyRef: false,
    });
    expect(a.kdfSupported).toBe(true);
    expect(a.commandChaining).toBe(true);
    expect(a.extendedLength).toBe(true);
    expect([a.maxCommandBytes, a.maxResponseBytes]).toEqual([0x0bfe, 0x0bfe]);
    expect(a.algorithms.sig).toMatchObject({ algorithm: 'eddsa', curve: 'ed25519' });
    expect(a.algorithms.dec).toEqual({ algorithm: 'rsa', bits: 2048, exponentBits: 17, importFormat: 0 });
    expect(a.algorithms.aut).toEqual({ algorithm: 'rsa', bits: 2048, exponentBits: 17, importFormat: 0 });
    expect(a.pwStatus).toEqual({ pw1ValidForMultipleSignatures: true, maxLengthPw1: 127, maxLengthRc: 127, maxLengthPw3: 127, retriesPw1: 3, retriesRc: 0, retriesPw3: 3 });
    expect(hex(a.fingerprints!.sig)).toBe('ad9e12e1901c82b796564711b58f2b5989413485');
    expect(hex(a.fingerprints!.aut)).toBe('00'.repeat(20));
    expect(a.touch).toEqual({ sig: 'off', dec: 'off', aut: 'off' });
    // From now on the channel speaks extended length, as 7F66 allows.
    expect(card.channel.getLimits()).toEqual(YK_LIMITS);
  });

  it('another recording of the same card (613B) gives the same identity', async () => {
    const t = new ReplayTransport(replay('open_ard_613b'));
    const card = await OpenPgpCard.open(t);
    expect(t.done).toBe(true);
    expect(card.ident).toBe('0006:23852774');
    expect(card.applicationData.algorithms.sig).toMatchObject({ algorithm: 'rsa', bits: 2048 });
  });

  it('reads PW status with extended Le 0BFE; 6E is not read again', async () => {
    const { card, t } = await openYubiKey(replay('pw_status'));
    expect(await card.pw1Status()).toMatchObject({ retriesPw1: 3, retriesRc: 0, retriesPw3: 3 });
    expect(t.done).toBe(true);
  });

  it('select sends only SELECT', async () => {
    const { card, t } = await openYubiKey(replay('open_ard_613f').slice(0, 1));
    await card.select();
    expect(t.done).toBe(true);
  });
});

describe('YubiKey 5 replays: VERIFY', () => {
  it('KDF off (F9 = 81 01 00): reads F9 once, then sends the PIN as is', async () => {
    const { card, t } = await openYubiKey(replay('get_kdf_off'), replay('verify_pw1_82_plain'));
    await card.verifyPw1(new Secret('123456'));
    expect(t.done).toBe(true);
  });

  it('KDF on: VERIFY 81 carries the iterated-salted SHA-512 digest the real card accepted', async () => {
    const f9 = yubikey.replays.kdf_do_as_written.value;
    expect(f9.length / 2).toBe(0xae);
    const getF9: RecordedApdu = { cmd: '00ca00f9000bfe', resp: `f981ae${f9}9000`, note: 'answer built from PUT DATA F9 (see fixture)' };
    const { card, t } = await openYubiKey([getF9], replay('verify_pw1_81_kdf'));
    await card.verifyPw1(new Secret('123456'), 0x81);
    expect(t.done).toBe(true);
  });

  it('a KDF-DO answered without the F9 wrapper works the same', async () => {
    const f9 = yubikey.replays.kdf_do_as_written.value;
    const { card, t } = await openYubiKey([{ cmd: '00ca00f9000bfe', resp: `${f9}9000` }], replay('verify_pw1_81_kdf'));
    await card.verifyPw1(new Secret('123456'), 0x81);
    expect(t.done).toBe(true);
  });

  it('a too-short PIN gets 6A80 from the YubiKey (not 63Cx): CardStatusError, not PinIncorrectError', async () => {
    const t = new ReplayTransport(replay('verify_short_pin_6a80'));
    const ch = new Iso7816Channel(t, { limits: YK_LIMITS });
    const err = await verifyPin(ch, 0x81, new TextEncoder().encode('wrong')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CardStatusError);
    expect(err).not.toBeInstanceOf(PinIncorrectError);
    expect((err as CardStatusError).sw).toBe(0x6a80);
  });
});

describe('YubiKey 5 replays: public keys through 61xx', () => {
  const cases = [
    ['generate_rsa2048_610e', 2048, 2],
    ['generate_rsa3072_618e', 3072, 2],
    ['generate_rsa4096_6100_610e', 4096, 3],
  ] as const;
  for (const [name, bits, apdus] of cases) {
    it(`RSA ${bits}: the 7F49 split over ${apdus} responses is reassembled and parsed`, async () => {
      const t = new ReplayTransport(replay(name));
      const ch = new Iso7816Channel(t);
      // The recorded command (GENERATE, P1=80, CRT B6) as go-openpgp-card sent it: no Le.
      const resp = await ch.transceive({ ins: 0x47, p1: 0x80, p2: 0x00, data: unhex('b603840101') });
      expect(t.done).toBe(true);
      expect(ch.apduCount).toBe(apdus);
      const key = parsePublicKeyTemplate(resp, { algorithm: 'rsa', bits, exponentBits: 17, importFormat: 0 });
      if (key.kind !== 'rsa') throw new Error('expected RSA');
      expect(key.n.length * 8).toBe(bits);
      expect(key.n[0]! & 0x80).toBe(0x80);
      expect(hex(key.e)).toBe('010001');
      // node:crypto accepts it as an RSA key of that size.
      const pub = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(key.n).toString('base64url'), e: Buffer.from(key.e).toString('base64url') }, format: 'jwk' });
      expect(pub.asymmetricKeyDetails?.modulusLength).toBe(bits);
    });
  }
});

describe('YubiKey 5 signature vectors', () => {
  const ATTRS = {
    secp256r1: '132a8648ce3d030107',
    secp384r1: '132b81040022',
    secp521r1: '132b81040023',
    Ed25519: '162b06010401da470f01',
  } as const;
  const NOBLE = { secp256r1: p256, secp384r1: p384, secp521r1: p521 } as const;
  const JWK_CRV = { secp256r1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as const;

  for (const [i, v] of yubikey.signature_vectors.entries()) {
    it(`vector ${i}: ${v.algorithm}, ${v.input.length / 2}-byte input, verifies against its 7F49 key`, () => {
      const key = parsePublicKeyTemplate(unhex(v.public_key_7f49), parseAlgorithmAttributes(unhex(ATTRS[v.algorithm])));
      const sig = unhex(v.signature);
      const input = unhex(v.input);
      const flipped = input.map((b, j) => (j === 0 ? b ^ 1 : b));
      if (v.algorithm === 'Ed25519') {
        if (key.kind !== 'eddsa') throw new Error('expected EdDSA');
        expect(sig.length).toBe(64);
        const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key.point).toString('base64url') }, format: 'jwk' });
        expect(verify(null, input, pub, sig)).toBe(true);
        expect(verify(null, flipped, pub, sig)).toBe(false);
        return;
      }
      if (key.kind !== 'ecdsa') throw new Error('expected ECDSA');
      const size = { secp256r1: 32, secp384r1: 48, secp521r1: 66 }[v.algorithm];
      expect(sig.length).toBe(2 * size);
      expect(key.point.length).toBe(1 + 2 * size);
      // node:crypto takes the point as a key (so the parse is a valid curve point) ...
      const pub = createPublicKey({
        key: { kty: 'EC', crv: JWK_CRV[v.algorithm], x: Buffer.from(key.point.subarray(1, 1 + size)).toString('base64url'), y: Buffer.from(key.point.subarray(1 + size)).toString('base64url') },
        format: 'jwk',
      });
      expect(pub.asymmetricKeyType).toBe('ec');
      // ... but cannot verify over a digest given as is (PSO:CDS signed the input bytes as the hash), so the curve math comes from noble.
      expect(NOBLE[v.algorithm].verify(sig, input, key.point, { prehash: false, lowS: false })).toBe(true);
      expect(NOBLE[v.algorithm].verify(sig, flipped, key.point, { prehash: false, lowS: false })).toBe(false);
    });
  }

  for (const [name, algorithm] of [['pso_cds_p256', 'secp256r1'], ['pso_cds_ed25519', 'Ed25519']] as const) {
    it(`${name}: PSO:CDS replayed through the channel returns the recorded raw signatures`, async () => {
      const script = replay(name).map((r) => {
        // go-openpgp-card sent PSO:CDS without Le; we ask for up to 0BFE bytes (extended form).
        const data = r.cmd.slice(10);
        return { ...r, sent: `002a9e9a0000${(data.length / 2).toString(16).padStart(2, '0')}${data}0bfe` };
      });
      const t = new ReplayTransport(script);
      const ch = new Iso7816Channel(t, { limits: YK_LIMITS });
      const vectors = yubikey.signature_vectors.filter((v) => v.algorithm === algorithm);
      expect(vectors).toHaveLength(3);
      for (const v of vectors) expect(hex(await computeDigitalSignature(ch, unhex(v.input)))).toBe(v.signature);
      expect(t.done).toBe(true);
    });
  }
});
