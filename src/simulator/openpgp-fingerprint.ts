import { createHash } from 'node:crypto';
import { parseTlvs } from './tlv-build.js';

/**
 * The OpenPGP v4 fingerprint (RFC 4880 §12.2) of a card key, as a host writes it to C7–C9 after
 * generating the key: SHA-1 over 0x99, the public-key packet body's length, and the body
 * (version 4, creation time, algorithm, key material). A fresh virtual card carries these, like
 * a card whose keys GnuPG generated, so hosts that look for fingerprints (scdaemon) find keys.
 */
export function v4Fingerprint(slot: 'sig' | 'dec' | 'aut', algorithmAttributes: Uint8Array, publicKeyTemplate: Uint8Array, created: number): Uint8Array {
  const inner = parseTlvs(parseTlvs(publicKeyTemplate).get(0x7f49) ?? new Uint8Array(0));
  const parts: Buffer[] = [Buffer.from([4, (created >>> 24) & 0xff, (created >>> 16) & 0xff, (created >>> 8) & 0xff, created & 0xff])];
  const id = algorithmAttributes[0];
  if (id === 0x01) {
    parts.push(Buffer.from([1]), mpi(inner.get(0x81)!), mpi(inner.get(0x82)!));
  } else {
    const oid = Buffer.from(algorithmAttributes.subarray(1));
    let point = Buffer.from(inner.get(0x86)!);
    const isCurve25519 = oid.toString('hex') === '2b06010401da470f01' || oid.toString('hex') === '2b060104019755010501';
    if (isCurve25519) point = Buffer.concat([Buffer.from([0x40]), point]); // native point prefix
    // OpenPGP algorithm ids: 22 EdDSA, 18 ECDH, 19 ECDSA.
    const algo = id === 0x16 ? 22 : id === 0x12 || slot === 'dec' ? 18 : 19;
    parts.push(Buffer.from([algo, oid.length]), oid, mpi(point));
    if (algo === 18) parts.push(Buffer.from([3, 1, 8, 7])); // KDF: SHA-256, AES-128 (GnuPG's default for these curves)
  }
  const body = Buffer.concat(parts);
  return Uint8Array.from(createHash('sha1').update(Buffer.from([0x99, body.length >> 8, body.length & 0xff])).update(body).digest());
}

/** An OpenPGP MPI: bit count, then the big-endian magnitude without leading zero bytes. */
function mpi(v: Uint8Array): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const m = Buffer.from(v.subarray(i));
  const bits = m.length === 0 ? 0 : (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
  return Buffer.concat([Buffer.from([bits >> 8, bits & 0xff]), m]);
}
