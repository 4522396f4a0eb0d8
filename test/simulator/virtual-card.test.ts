import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VirtualCard } from '../../src/simulator/virtual-card.js';

const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sw = (r: Uint8Array): string => hex(r.subarray(-2));
const SELECT = unhex('00a4040006d27600012401');
const VERIFY_82 = unhex('0020008206313233343536');

async function selected(options: Parameters<typeof VirtualCard.create>[0] = {}): Promise<VirtualCard> {
  const card = await VirtualCard.create(options);
  expect(sw(await card.process(SELECT))).toBe('9000');
  return card;
}

/** INTERNAL AUTHENTICATE with `data`, extended Le. */
function internalAuth(data: Uint8Array): Uint8Array {
  return Uint8Array.from([0x00, 0x88, 0x00, 0x00, 0x00, data.length >> 8, data.length & 0xff, ...data, 0x00, 0x00]);
}

describe('virtual OpenPGP card', () => {
  it('refuses commands before SELECT and unknown applications', async () => {
    const card = await VirtualCard.create({});
    expect(sw(await card.process(unhex('00ca006e00')))).toBe('6985');
    expect(sw(await card.process(unhex('00a4040006d27600012402')))).toBe('6a82');
  });

  it('answers GET DATA 6E with AID, historical bytes, 7F66 and the discretionary objects', async () => {
    const card = await selected({ serial: 0x12345678 });
    const r = await card.process(unhex('00ca006e000000'));
    expect(sw(r)).toBe('9000');
    const body = hex(r);
    expect(body.startsWith('6e')).toBe(true);
    expect(body).toContain('4f10d276000124010304ff0012345678');
    expect(card.ident).toBe('FF00:12345678');
    expect(body).toContain('7f66');
    expect(body).toContain('c407017f7f7f030003');
  });

  it('counts PIN tries, blocks at zero, and a right PIN restores the counter', async () => {
    const card = await selected({});
    expect(sw(await card.process(unhex('0020008206303030303030')))).toBe('63c2');
    expect(sw(await card.process(unhex('00200082')))).toBe('63c2');
    expect(sw(await card.process(VERIFY_82))).toBe('9000');
    expect(sw(await card.process(unhex('00200082')))).toBe('9000');
    expect(card.state.retries.pw1).toBe(3);
    for (const expected of ['63c2', '63c1', '63c0', '6983']) {
      expect(sw(await card.process(unhex('0020008206303030303030')))).toBe(expected);
    }
    expect(sw(await card.process(VERIFY_82))).toBe('6983');
  });

  it('INTERNAL AUTHENTICATE needs PW1 82 and signs with the authentication key', async () => {
    const card = await selected({ authAlgorithm: 'ed25519' });
    const msg = new TextEncoder().encode('challenge');
    expect(sw(await card.process(internalAuth(msg)))).toBe('6982');
    await card.process(VERIFY_82);
    const r = await card.process(internalAuth(msg));
    expect(sw(r)).toBe('9000');
    const pk = await card.process(unhex('0047810002a40000'));
    const point = pk.subarray(pk.length - 2 - 32, pk.length - 2);
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(point).toString('base64url') }, format: 'jwk' });
    expect(verify(null, msg, key, r.subarray(0, -2))).toBe(true);
    // A reset forgets the verification.
    card.reset();
    await card.process(SELECT);
    expect(sw(await card.process(internalAuth(msg)))).toBe('6982');
  });

  it('short-only mode hands long responses out through 61xx and GET RESPONSE', async () => {
    const card = await selected({ authAlgorithm: 'rsa2048', extendedLength: false });
    expect(sw(await card.process(unhex('00ca006e000000')))).toBe('6700');
    const first = await card.process(unhex('0047810002a40000'));
    expect(first.length).toBe(258);
    expect(hex(first.subarray(-2, -1))).toBe('61');
    const rest = await card.process(unhex(`00c00000${hex(first.subarray(-1))}`));
    expect(sw(rest)).toBe('9000');
    // 7F49 82 0109 { 81 82 0100 n(256), 82 03 010001 }: 270 bytes in all.
    expect(hex(first.subarray(0, 4))).toBe('7f498201');
    expect(256 + rest.length - 2).toBe(270);
  });

  it('command chaining joins the pieces', async () => {
    const card = await selected({});
    await card.process(unhex('00200083083132333435363738'));
    expect(sw(await card.process(unhex('10da5f5003616263')))).toBe('9000');
    expect(sw(await card.process(unhex('00da5f5003646566')))).toBe('9000');
    expect(hex((await card.process(unhex('00ca5f5000'))).subarray(0, -2))).toBe(hex(new TextEncoder().encode('abcdef')));
  });

  it('touch: waits for the touch, fails with 6600 after the timeout', async () => {
    const card = await selected({ touch: { aut: true }, touchTimeoutMs: 100 });
    await card.process(VERIFY_82);
    const wanted: string[] = [];
    card.on('touch-wanted', (slot: string) => wanted.push(slot));
    expect(sw(await card.process(internalAuth(Uint8Array.of(1, 2, 3))))).toBe('6600');
    const pending = card.process(internalAuth(Uint8Array.of(1, 2, 3)));
    setTimeout(() => card.touch(), 20);
    expect(sw(await pending)).toBe('9000');
    expect(wanted).toEqual(['aut', 'aut']);
  });

  it('persists keys, PINs and counters, atomically and privately', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-vcard-'));
    const path = join(dir, 'card.json');
    const a = await VirtualCard.loadOrCreate(path, { authAlgorithm: 'p256' });
    await a.process(SELECT);
    await a.process(unhex('0020008206303030303030'));
    const pkA = await a.process(unhex('0047810002a40000'));
    const b = await VirtualCard.loadOrCreate(path, { authAlgorithm: 'ed25519' });
    await b.process(SELECT);
    expect(b.ident).toBe(a.ident);
    expect(hex(await b.process(unhex('0047810002a40000')))).toBe(hex(pkA));
    expect(b.state.retries.pw1).toBe(2);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8')).version).toBe(1);
  });

  it('never crashes on random bytes and always answers with a status word', async () => {
    const card = await selected({});
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (apdu) => {
        const r = await card.process(apdu);
        expect(r.length).toBeGreaterThanOrEqual(2);
      }),
      { numRuns: 2000 },
    );
  });
});
