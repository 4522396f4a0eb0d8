import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Iso7816Channel } from '../../../src/card/iso7816/channel.js';
import { parseApplicationData } from '../../../src/card/openpgp/application-data.js';
import { DO, getData, PW1_81, PW1_82, selectOpenPgp, verify } from '../../../src/card/openpgp/commands.js';
import { parseAlgorithmAttributes } from '../../../src/card/openpgp/public-key.js';
import { cdsInput, pw1ValidForOneSignature, readCardKeys, readSignatureCounter, readSignatureKey, signDigest } from '../../../src/card/openpgp/signature-key.js';
import { CardStatusError, WireFormatError } from '../../../src/errors.js';
import { HashAlgorithm } from '../../../src/openpgp/constants.js';
import { keyFromParts } from '../../../src/openpgp/key.js';
import { verifyRawSignature } from '../../../src/openpgp/verify.js';
import type { SimAlgorithm } from '../../../src/simulator/card-keys.js';
import { InProcessTransport } from '../../../src/simulator/in-process-transport.js';
import { VirtualCard, type VirtualCardOptions } from '../../../src/simulator/virtual-card.js';

const PIN = new TextEncoder().encode('123456');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function open(options: VirtualCardOptions): Promise<{ channel: Iso7816Channel; v: VirtualCard; t: InProcessTransport }> {
  const v = await VirtualCard.create(options);
  const t = new InProcessTransport(v);
  const channel = new Iso7816Channel(t);
  await selectOpenPgp(channel);
  return { channel, v, t };
}

const CASES: { sig: SimAlgorithm; hash: 'sha256' | 'sha384' | 'sha512'; id: number }[] = [
  { sig: 'rsa2048', hash: 'sha256', id: HashAlgorithm.SHA256 },
  { sig: 'p256', hash: 'sha256', id: HashAlgorithm.SHA256 },
  { sig: 'p384', hash: 'sha384', id: HashAlgorithm.SHA384 },
  { sig: 'p521', hash: 'sha512', id: HashAlgorithm.SHA512 },
  { sig: 'ed25519', hash: 'sha256', id: HashAlgorithm.SHA256 },
];

describe('the signature key on the virtual card (PSO:CDS, OpenPGP card 3.4.1 §7.2.10)', () => {
  for (const c of CASES) {
    it(`${c.sig}: reads all three keys with the card's fingerprints and times; signs a digest after VERIFY 81; counts signatures`, async () => {
      const { channel, v, t } = await open({ signAlgorithm: c.sig, authAlgorithm: c.sig === 'ed25519' ? 'ed25519' : c.sig });
      const keys = await readCardKeys(channel);
      for (const slot of ['sig', 'dec', 'aut'] as const) {
        const k = keys[slot];
        expect(k, slot).toBeDefined();
        // The virtual card computed C7–C9 with its own code when it made the keys (as GnuPG does);
        // our host code arrives at the same fingerprint from the public key and CE–D0.
        const stored = v.state.dos[{ sig: 'c7', dec: 'c8', aut: 'c9' }[slot]];
        expect(hex(k!.fingerprint)).toBe(stored);
        expect(k!.created).toBe(parseInt(v.state.dos[{ sig: 'ce', dec: 'cf', aut: 'd0' }[slot]]!, 16));
        const built = keyFromParts(k!.parts, k!.created, k!.fingerprint);
        expect(built.matchesCard, slot).toBe(true);
      }
      expect(keys.pw1ValidForOneSignature).toBe(false);
      const sig = (await readSignatureKey(channel))!;
      expect(sig.parts).toEqual(keys.sig!.parts);

      const digest = Uint8Array.from(createHash(c.hash).update('a git commit').digest());
      await expect(signDigest(channel, sig.attributes, c.hash, digest)).rejects.toSatisfy((e) => e instanceof CardStatusError && e.sw === 0x6982);
      // PW1 82 does not open PSO:CDS.
      await verify(channel, PW1_82, PIN);
      await expect(signDigest(channel, sig.attributes, c.hash, digest)).rejects.toSatisfy((e) => e instanceof CardStatusError && e.sw === 0x6982);
      await verify(channel, PW1_81, PIN);
      expect(await readSignatureCounter(channel)).toBe(0);
      const before = t.apduCount;
      const raw = await signDigest(channel, sig.attributes, c.hash, digest);
      expect(t.apduCount - before).toBe(1);
      const material = keyFromParts(sig.parts, sig.created).key.material;
      expect(verifyRawSignature(material, c.id, digest, raw)).toBe(true);
      const other = Uint8Array.from(digest);
      other[5]! ^= 0x40;
      expect(verifyRawSignature(material, c.id, other, raw)).toBe(false);
      // Valid for several signatures: the second needs no VERIFY.
      await signDigest(channel, sig.attributes, c.hash, other);
      expect(await readSignatureCounter(channel)).toBe(2);
    });
  }

  it('C4 says "PW1 valid for one PSO:CDS": the second signature needs VERIFY 81 again', async () => {
    const { channel } = await open({ signAlgorithm: 'ed25519', pw1ValidForMultipleSignatures: false });
    expect(await pw1ValidForOneSignature(channel)).toBe(true);
    const sig = (await readSignatureKey(channel))!;
    const d = Uint8Array.from(createHash('sha256').update('x').digest());
    await verify(channel, PW1_81, PIN);
    await signDigest(channel, sig.attributes, 'sha256', d);
    await expect(signDigest(channel, sig.attributes, 'sha256', d)).rejects.toSatisfy((e) => e instanceof CardStatusError && e.sw === 0x6982);
    await verify(channel, PW1_81, PIN);
    await signDigest(channel, sig.attributes, 'sha256', d);
    expect(await readSignatureCounter(channel)).toBe(2);
  });

  it('with the application data (6E) the caller already read, one APDU less and the same keys', async () => {
    const { channel, t } = await open({ signAlgorithm: 'p256', authAlgorithm: 'ed25519' });
    const cost = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
      const before = t.apduCount;
      const r = await f();
      return [r, t.apduCount - before];
    };
    // Short APDUs here: 6E comes back in two pieces (61xx, GET RESPONSE).
    const [applicationData, appCost] = await cost(async () => parseApplicationData(await getData(channel, DO.APPLICATION_RELATED_DATA)));
    expect(appCost).toBe(2);
    const [read, readCost] = await cost(() => readCardKeys(channel));
    const [given, givenCost] = await cost(() => readCardKeys(channel, { applicationData }));
    expect(given).toEqual(read);
    expect(readCost - givenCost).toBe(appCost);
    const [sigOnly, sigCost] = await cost(() => readCardKeys(channel, { applicationData, slots: ['sig'] }));
    expect(sigOnly.sig).toEqual(read.sig);
    expect(sigOnly.dec).toBeUndefined();
    expect(sigCost).toBe(1);
  });

  it('a slot without a key is left out', async () => {
    const { channel, v } = await open({ signAlgorithm: 'p256' });
    delete v.state.keys.dec;
    const keys = await readCardKeys(channel);
    expect(keys.sig).toBeDefined();
    expect(keys.dec).toBeUndefined();
  });
});

describe('PSO:CDS input', () => {
  const d256 = new Uint8Array(32).fill(0xab);
  it('RSA: DigestInfo (RFC 8017 §9.2) then the digest', () => {
    const rsa = parseAlgorithmAttributes(Uint8Array.of(0x01, 0x08, 0x00, 0x00, 0x20, 0x00));
    expect(hex(cdsInput(rsa, 'sha256', d256))).toBe('3031300d060960864801650304020105000420' + 'ab'.repeat(32));
  });
  it('ECDSA: the digest, cut to the field size; EdDSA: the digest', () => {
    const p256 = parseAlgorithmAttributes(Uint8Array.from(Buffer.from('132a8648ce3d030107', 'hex')));
    expect(cdsInput(p256, 'sha256', d256)).toEqual(d256);
    const d512 = new Uint8Array(64).map((_, i) => i);
    expect(cdsInput(p256, 'sha512', d512)).toEqual(d512.subarray(0, 32));
    const ed = parseAlgorithmAttributes(Uint8Array.from(Buffer.from('162b06010401da470f01', 'hex')));
    expect(cdsInput(ed, 'sha512', d512)).toEqual(d512);
  });
  it('a digest of the wrong length is refused before anything reaches the card', () => {
    const ed = parseAlgorithmAttributes(Uint8Array.from(Buffer.from('162b06010401da470f01', 'hex')));
    expect(() => cdsInput(ed, 'sha256', new Uint8Array(31))).toThrow(WireFormatError);
  });
});
