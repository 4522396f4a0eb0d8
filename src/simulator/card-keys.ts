import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPair, privateEncrypt, constants, sign as nodeSign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { concat, tlv } from './tlv-build.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type SimAlgorithm = 'rsa2048' | 'rsa3072' | 'rsa4096' | 'p256' | 'p384' | 'p521' | 'ed25519' | 'x25519';
export const SIM_ALGORITHMS: readonly SimAlgorithm[] = ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384', 'p521', 'ed25519', 'x25519'];

/** Curve OIDs as algorithm attributes carry them (OpenPGP card 3.4.1 §4.4.3.10, without the 06 tag). */
const OID: Record<'p256' | 'p384' | 'p521' | 'ed25519' | 'x25519', string> = {
  p256: '2a8648ce3d030107',
  p384: '2b81040022',
  p521: '2b81040023',
  ed25519: '2b06010401da470f01',
  x25519: '2b060104019755010501',
};

export type Slot = 'sig' | 'dec' | 'aut';

/**
 * Algorithm attributes C1–C3 for a slot (3.4.1 §4.4.3.10): RSA 01|n bits|e bits(32)|format 00;
 * ECDSA 13|OID, ECDH 12|OID, EdDSA 16|OID.
 */
export function algorithmAttributes(alg: SimAlgorithm, slot: Slot): Uint8Array {
  const rsaBits = rsaSize(alg);
  if (rsaBits !== undefined) return Uint8Array.of(0x01, rsaBits >> 8, rsaBits & 0xff, 0x00, 0x20, 0x00);
  const oid = Buffer.from(OID[alg as keyof typeof OID], 'hex');
  let id: number;
  if (alg === 'ed25519') id = 0x16;
  else if (alg === 'x25519') id = 0x12;
  else id = slot === 'dec' ? 0x12 : 0x13;
  return concat(Uint8Array.of(id), oid);
}

/** The reverse of algorithmAttributes, for PUT DATA C1–C3; undefined when we don't support it. */
export function algorithmFromAttributes(attr: Uint8Array): SimAlgorithm | undefined {
  if (attr[0] === 0x01 && attr.length >= 5) {
    const bits = (attr[1]! << 8) | attr[2]!;
    return ({ 2048: 'rsa2048', 3072: 'rsa3072', 4096: 'rsa4096' } as Record<number, SimAlgorithm>)[bits];
  }
  // Some hosts append 0xFF (public key import format) after the OID.
  let oid = Buffer.from(attr.subarray(1)).toString('hex');
  if (oid.endsWith('ff') && !Object.values(OID).includes(oid)) oid = oid.slice(0, -2);
  const found = (Object.keys(OID) as (keyof typeof OID)[]).find((k) => OID[k] === oid);
  if (found === undefined) return undefined;
  if (attr[0] === 0x16 && found === 'ed25519') return 'ed25519';
  if (attr[0] === 0x12 && found === 'x25519') return 'x25519';
  if ((attr[0] === 0x13 || attr[0] === 0x12) && found.startsWith('p')) return found;
  return undefined;
}

type EcAlgorithm = 'p256' | 'p384' | 'p521';
const EC_CURVE_NAME: Record<EcAlgorithm, string> = { p256: 'P-256', p384: 'P-384', p521: 'P-521' };

export function rsaSize(alg: SimAlgorithm): number | undefined {
  return alg === 'rsa2048' ? 2048 : alg === 'rsa3072' ? 3072 : alg === 'rsa4096' ? 4096 : undefined;
}

export interface StoredKey {
  readonly algorithm: SimAlgorithm;
  /** PKCS#8 DER, base64. */
  readonly pkcs8: string;
}

export async function generateKey(alg: SimAlgorithm): Promise<StoredKey> {
  let pair: { privateKey: KeyObject };
  const bits = rsaSize(alg);
  if (bits !== undefined) pair = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  else if (alg === 'ed25519') pair = await generateKeyPairAsync('ed25519');
  else if (alg === 'x25519') pair = await generateKeyPairAsync('x25519');
  else pair = await generateKeyPairAsync('ec', { namedCurve: EC_CURVE_NAME[alg as EcAlgorithm] });
  return { algorithm: alg, pkcs8: pair.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') };
}

/** Parsed keys, by their PKCS#8 text: parsing a key for every signature would cost more than signing. */
const parsed = new Map<string, { key: KeyObject; d?: Uint8Array }>();

function parsedKey(key: StoredKey): { key: KeyObject; d?: Uint8Array } {
  let p = parsed.get(key.pkcs8);
  if (p === undefined) {
    if (parsed.size > 64) parsed.clear();
    p = { key: createPrivateKey({ key: Buffer.from(key.pkcs8, 'base64'), format: 'der', type: 'pkcs8' }) };
    parsed.set(key.pkcs8, p);
  }
  return p;
}

function privateKeyOf(key: StoredKey): KeyObject {
  return parsedKey(key).key;
}

const b64u = (s: string | undefined): Uint8Array => Uint8Array.from(Buffer.from(s ?? '', 'base64url'));

/** The public key as GENERATE ASYMMETRIC KEY PAIR returns it: 7F49 with 81 n, 82 e (RSA) or 86 point (3.4.1 §7.2.14). */
export function publicKeyTemplate(key: StoredKey): Uint8Array {
  const jwk = createPublicKey(privateKeyOf(key)).export({ format: 'jwk' });
  if (jwk.kty === 'RSA') return tlv(0x7f49, tlv(0x81, b64u(jwk.n)), tlv(0x82, b64u(jwk.e)));
  if (jwk.kty === 'EC') return tlv(0x7f49, tlv(0x86, Uint8Array.of(0x04), b64u(jwk.x), b64u(jwk.y)));
  return tlv(0x7f49, tlv(0x86, b64u(jwk.x)));
}

const NOBLE = { p256, p384, p521 } as const;

/**
 * INTERNAL AUTHENTICATE / PSO:CDS: RSA applies PKCS#1 v1.5 type-1 padding to the DigestInfo the
 * host sent; ECDSA signs the given digest as is (r||s, each field-sized); EdDSA signs the raw input.
 */
export function signWith(key: StoredKey, input: Uint8Array): Uint8Array {
  const priv = privateKeyOf(key);
  const alg = key.algorithm;
  if (rsaSize(alg) !== undefined) {
    return Uint8Array.from(privateEncrypt({ key: priv, padding: constants.RSA_PKCS1_PADDING }, input));
  }
  if (alg === 'ed25519') return Uint8Array.from(nodeSign(null, input, priv));
  if (alg === 'x25519') throw new Error('X25519 keys cannot sign');
  const p = parsedKey(key);
  p.d ??= b64u(priv.export({ format: 'jwk' }).d);
  const d = p.d;
  return NOBLE[alg as EcAlgorithm].sign(input, d, { prehash: false, format: 'compact' });
}

/** PSO:DECIPHER (3.4.1 §7.2.11): RSA PKCS#1 v1.5 decryption, or ECDH with the host's ephemeral point. */
export function decipherWith(key: StoredKey, input: Uint8Array): Uint8Array {
  const priv = privateKeyOf(key);
  if (rsaSize(key.algorithm) !== undefined) return rsaPkcs1Decrypt(priv, input);
  const jwk = priv.export({ format: 'jwk' });
  let peer: KeyObject;
  if (key.algorithm === 'x25519') {
    peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(input).toString('base64url') }, format: 'jwk' });
  } else {
    const size = (input.length - 1) / 2;
    peer = createPublicKey({
      key: {
        kty: 'EC',
        crv: jwk.crv!,
        x: Buffer.from(input.subarray(1, 1 + size)).toString('base64url'),
        y: Buffer.from(input.subarray(1 + size)).toString('base64url'),
      },
      format: 'jwk',
    });
  }
  return Uint8Array.from(diffieHellman({ privateKey: priv, publicKey: peer }));
}

/** Node refuses PKCS#1 v1.5 privateDecrypt (Marvin); the card does it with plain modular arithmetic. */
function rsaPkcs1Decrypt(priv: KeyObject, c: Uint8Array): Uint8Array {
  const jwk = priv.export({ format: 'jwk' });
  const n = toBig(b64u(jwk.n));
  const d = toBig(b64u(jwk.d));
  const k = b64u(jwk.n).length;
  const m = fromBig(modPow(toBig(c), d, n), k);
  if (m[0] !== 0 || m[1] !== 2) throw new Error('bad padding');
  const sep = m.indexOf(0, 2);
  if (sep < 10) throw new Error('bad padding');
  return m.subarray(sep + 1);
}

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}
function fromBig(v: bigint, size: number): Uint8Array {
  return Uint8Array.from(Buffer.from(v.toString(16).padStart(size * 2, '0'), 'hex'));
}
function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  base %= mod;
  while (exp > 0n) {
    if (exp & 1n) r = (r * base) % mod;
    base = (base * base) % mod;
    exp >>= 1n;
  }
  return r;
}
