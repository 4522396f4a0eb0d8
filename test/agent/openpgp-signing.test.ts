import { createHash } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CardKeyProvider } from '../../src/agent/card-key-provider.js';
import { CardManager } from '../../src/agent/card-manager.js';
import { openPgpExtensions } from '../../src/agent/openpgp-signing.js';
import { decodeQueryReply } from '../../src/protocol/extension.js';
import { decodeKeysReply, decodeSignReply, keysRequest, OpenPgpExtension, signRequest } from '../../src/protocol/openpgp-extension.js';
import { HashAlgorithm } from '../../src/openpgp/constants.js';
import { keyFromParts } from '../../src/openpgp/key.js';
import { verifyRawSignature } from '../../src/openpgp/verify.js';
import { Secret } from '../../src/secret.js';
import type { SimAlgorithm } from '../../src/simulator/card-keys.js';
import { VirtualCard, type VirtualCardOptions } from '../../src/simulator/virtual-card.js';
import { FakePcscTransport } from '../card/fake-pcsc-transport.js';
import { ask, makeAgent, makeConn, type LogLine } from './helpers.js';
import { TestPins } from './test-pins.js';

const silent = pino({ level: 'silent' });

async function setup(options: VirtualCardOptions, pin: string | null = '123456') {
  const v = await VirtualCard.create(options);
  const t = new FakePcscTransport(v);
  const cards = new CardManager({ log: silent });
  const pins = new TestPins();
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const provider = new CardKeyProvider({ cards, pins, log, idleLockMs: 60_000 });
  const entry = (await cards.attach('virtual', async () => t))!;
  if (pin !== null) await pins.keep(entry.ident, new Secret(pin), undefined);
  const extensions = openPgpExtensions(provider, log);
  const { agent } = makeAgent({ extensions });
  return { v, t, entry, pins, agent, logs, conn: makeConn() };
}

const digestOf = (hash: 'sha256' | 'sha384' | 'sha512', s: string): Uint8Array => Uint8Array.from(createHash(hash).update(s).digest());

describe('the OpenPGP extensions in the agent, over the virtual card', () => {
  const cases: [SimAlgorithm, number, 'sha256' | 'sha384' | 'sha512'][] = [
    ['ed25519', HashAlgorithm.SHA256, 'sha256'],
    ['p256', HashAlgorithm.SHA256, 'sha256'],
    ['rsa2048', HashAlgorithm.SHA512, 'sha512'],
  ];
  for (const [algo, hashId, hash] of cases) {
    it(`${algo}: query names both extensions; keys lists the card's three keys; sign answers a signature that verifies`, async () => {
      const { v, t, agent, conn, entry } = await setup({ signAlgorithm: algo, authAlgorithm: algo });
      const names = decodeQueryReply(await ask(agent, conn, { type: 'extension', extension: { kind: 'query' } }));
      expect(names).toEqual(expect.arrayContaining([OpenPgpExtension.KEYS, OpenPgpExtension.SIGN]));

      const keys = decodeKeysReply(await ask(agent, conn, { type: 'extension', extension: keysRequest() }));
      expect(keys.map((k) => k.slot)).toEqual(['signature', 'decryption', 'authentication']);
      expect(keys.every((k) => k.ident === entry.ident)).toBe(true);
      const sig = keys[0]!;
      expect(Buffer.from(sig.fingerprint).toString('hex')).toBe(v.state.dos['c7']);

      const digest = digestOf(hash, 'tree ...\nauthor ...\n\ncommit message\n');
      const before = t.apduCount;
      const raw = decodeSignReply(await ask(agent, conn, { type: 'extension', extension: signRequest({ fingerprint: sig.fingerprint, hashAlgorithm: hashId, digest, purpose: 'git commit' }) }));
      const material = keyFromParts(sig.parts, sig.created, sig.fingerprint).key.material;
      expect(verifyRawSignature(material, hashId, digest, raw)).toBe(true);
      // The first time: PSO:CDS (6982: PIN needed), GET DATA C4 (retries), GET DATA F9 (KDF,
      // read once), VERIFY 81, PSO:CDS ...
      expect(t.apdusSince(0).slice(-5).map((a) => a.slice(0, 8))).toEqual(['002a9e9a', '00ca00c4', '00ca00f9', '00200081', '002a9e9a']);
      expect(t.apduCount - before).toBe(5);
      const again = t.apduCount;
      decodeSignReply(await ask(agent, conn, { type: 'extension', extension: signRequest({ fingerprint: sig.fingerprint, hashAlgorithm: hashId, digest, purpose: 'git commit' }) }));
      // ... then one PSO:CDS: the card keeps PW1 81 verified (C4 byte 1 = 01).
      expect(t.apduCount - again).toBe(1);
      expect(v.state.signatureCounter).toBe(2);
    });
  }

  it('a card whose C4 says "one signature per VERIFY" gets VERIFY 81 before every signature', async () => {
    const { v, agent, conn } = await setup({ signAlgorithm: 'ed25519', pw1ValidForMultipleSignatures: false });
    const [sig] = decodeKeysReply(await ask(agent, conn, { type: 'extension', extension: keysRequest() }));
    const verifies: number[] = [];
    const process = v.process.bind(v);
    v.process = async (apdu: Uint8Array) => {
      if (apdu[1] === 0x20 && apdu[3] === 0x81 && apdu.length > 5) verifies.push(apdu.length);
      return process(apdu);
    };
    for (let i = 0; i < 3; i++) {
      decodeSignReply(await ask(agent, conn, { type: 'extension', extension: signRequest({ fingerprint: sig!.fingerprint, hashAlgorithm: 8, digest: digestOf('sha256', `c${i}`), purpose: 'git commit' }) }));
    }
    expect(verifies.length).toBe(3);
    expect(v.state.signatureCounter).toBe(3);
  });

  it('refuses (EXTENSION_FAILURE, not FAILURE) an unknown key, SHA-1, a digest of the wrong size, the authentication key', async () => {
    const { agent, conn, v, logs } = await setup({ signAlgorithm: 'p256', authAlgorithm: 'p256' });
    const keys = decodeKeysReply(await ask(agent, conn, { type: 'extension', extension: keysRequest() }));
    const sigKey = keys.find((k) => k.slot === 'signature')!;
    const autKey = keys.find((k) => k.slot === 'authentication')!;
    const tries = [
      signRequest({ fingerprint: new Uint8Array(20).fill(7), hashAlgorithm: 8, digest: new Uint8Array(32), purpose: '' }),
      signRequest({ fingerprint: sigKey.fingerprint, hashAlgorithm: HashAlgorithm.SHA1, digest: new Uint8Array(20), purpose: '' }),
      signRequest({ fingerprint: sigKey.fingerprint, hashAlgorithm: 8, digest: new Uint8Array(31), purpose: '' }),
      signRequest({ fingerprint: autKey.fingerprint, hashAlgorithm: 8, digest: new Uint8Array(32), purpose: '' }),
    ];
    for (const extension of tries) expect(await ask(agent, conn, { type: 'extension', extension })).toEqual({ type: 'extension-failure' });
    expect(v.state.signatureCounter).toBe(0);
    expect(logs.filter((l) => l.code === 'E_SIGNATURE_REFUSED').length).toBe(4);
    // Malformed contents are refused too.
    expect(await ask(agent, conn, { type: 'extension', extension: { kind: 'other', name: OpenPgpExtension.SIGN, contents: Uint8Array.of(1, 2) } })).toEqual({ type: 'extension-failure' });
  });

  it('without a PIN the signature fails and names ssh-add -s; the card is not touched', async () => {
    const { agent, conn, v, logs, entry } = await setup({ signAlgorithm: 'ed25519' }, null);
    const [sig] = decodeKeysReply(await ask(agent, conn, { type: 'extension', extension: keysRequest() }));
    expect(await ask(agent, conn, { type: 'extension', extension: signRequest({ fingerprint: sig!.fingerprint, hashAlgorithm: 8, digest: new Uint8Array(32), purpose: '' }) })).toEqual({ type: 'extension-failure' });
    expect(logs.some((l) => l.code === 'E_PIN_REQUIRED' && l.msg.includes(`ssh-add -s ${entry.ident}`))).toBe(true);
    expect(v.state.retries.pw1).toBe(3);
  });

  it('a wrong stored PIN costs exactly one try, over twenty signature requests', async () => {
    const { agent, conn, v } = await setup({ signAlgorithm: 'ed25519' }, '999999');
    const [sig] = decodeKeysReply(await ask(agent, conn, { type: 'extension', extension: keysRequest() }));
    for (let i = 0; i < 20; i++) {
      expect(await ask(agent, conn, { type: 'extension', extension: signRequest({ fingerprint: sig!.fingerprint, hashAlgorithm: 8, digest: new Uint8Array(32), purpose: '' }) })).toEqual({ type: 'extension-failure' });
    }
    expect(v.state.retries.pw1).toBe(2);
    expect(v.state.signatureCounter).toBe(0);
  });

  it('an agent without the extensions answers plain FAILURE (draft §3.8); a locked agent refuses', async () => {
    const { agent } = makeAgent();
    expect(await ask(agent, makeConn(), { type: 'extension', extension: keysRequest() })).toEqual({ type: 'failure' });
    const { agent: withExt, conn } = await setup({ signAlgorithm: 'ed25519' });
    expect((await ask(withExt, conn, { type: 'lock', passphrase: new Secret('x') })).type).toBe('success');
    expect(await ask(withExt, conn, { type: 'extension', extension: keysRequest() })).toEqual({ type: 'failure' });
  });
});
