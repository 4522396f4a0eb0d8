import { createHash } from 'node:crypto';
import { WireFormatError } from '../../errors.js';
import { findTlv, parseTlv } from '../iso7816/tlv.js';

/** KDF-DO (F9), OpenPGP card 3.4.1 §4.3.2. */
export interface KdfParams {
  readonly algorithm: 'none' | 'itersalted-s2k';
  readonly hash: 'sha256' | 'sha512';
  readonly iterations: number;
  readonly saltPw1: Uint8Array | undefined;
  readonly saltRc: Uint8Array | undefined;
  readonly saltPw3: Uint8Array | undefined;
}

export function parseKdfDo(b: Uint8Array): KdfParams {
  const objs = parseTlv(b);
  const inner = findTlv(objs, 0xf9)?.children ?? objs;
  const alg = findTlv(inner, 0x81)?.value[0] ?? 0x00;
  if (alg === 0x00) {
    return { algorithm: 'none', hash: 'sha256', iterations: 0, saltPw1: undefined, saltRc: undefined, saltPw3: undefined };
  }
  if (alg !== 0x03) throw new WireFormatError(`unknown KDF algorithm ${alg}`, 0);
  const hashId = findTlv(inner, 0x82)?.value[0];
  const hash = hashId === 0x08 ? 'sha256' : hashId === 0x0a ? 'sha512' : undefined;
  if (hash === undefined) throw new WireFormatError(`unknown KDF hash ${String(hashId)}`, 0);
  const count = findTlv(inner, 0x83)?.value ?? new Uint8Array(0);
  let iterations = 0;
  for (const byte of count) iterations = iterations * 256 + byte;
  return {
    algorithm: 'itersalted-s2k',
    hash,
    iterations,
    saltPw1: findTlv(inner, 0x84)?.value,
    saltRc: findTlv(inner, 0x85)?.value,
    saltPw3: findTlv(inner, 0x86)?.value,
  };
}

/**
 * Iterated and salted S2K (RFC 4880 §3.7.1.3) as the card's KDF uses it: hash `count` bytes of
 * salt||PIN repeated (at least one whole salt||PIN). The card compares the digest, not the PIN.
 */
export function deriveKdfPin(pin: Uint8Array, params: KdfParams, which: 'pw1' | 'rc' | 'pw3'): Uint8Array {
  if (params.algorithm === 'none') return pin;
  const salt = (which === 'pw1' ? params.saltPw1 : which === 'rc' ? params.saltRc : params.saltPw3) ?? new Uint8Array(0);
  return iteratedSaltedS2k(pin, salt, params.iterations, params.hash);
}

/** RFC 4880 §3.7.1.3: hash `count` bytes of salt||secret repeated (at least one whole salt||secret). */
export function iteratedSaltedS2k(secret: Uint8Array, salt: Uint8Array, count: number, hash: 'sha256' | 'sha512'): Uint8Array {
  const block = new Uint8Array(salt.length + secret.length);
  block.set(salt, 0);
  block.set(secret, salt.length);
  const h = createHash(hash);
  let left = Math.max(count, block.length);
  while (left > 0) {
    const n = Math.min(left, block.length);
    h.update(block.subarray(0, n));
    left -= n;
  }
  return Uint8Array.from(h.digest());
}
