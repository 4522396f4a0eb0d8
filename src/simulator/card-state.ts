import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import type { SimAlgorithm, Slot, StoredKey } from './card-keys.js';
import { concat, hex, tlv, unhex } from './tlv-build.js';

/** Everything a virtual card remembers across restarts. Hex strings for bytes. */
export interface CardState {
  version: 1;
  manufacturer: number;
  serial: number;
  /** PW1, Reset Code, PW3: the bytes VERIFY must match (the KDF hashes when KDF is on). Hex. */
  pins: { pw1: string; rc: string; pw3: string };
  retries: { pw1: number; rc: number; pw3: number };
  algorithms: Record<Slot, SimAlgorithm>;
  keys: Partial<Record<Slot, StoredKey>>;
  /** Simple data objects set by PUT DATA (tag hex → value hex): names, URL, fingerprints, times, UIF, KDF. */
  dos: Record<string, string>;
  signatureCounter: number;
  extendedLength: boolean;
  pw1ValidForMultipleSignatures: boolean;
}

export const MAX_RETRIES = 3;

/**
 * RFC 4880 §3.7.1.3 iterated and salted S2K, the card's own: salt || secret repeated up to
 * `count` bytes (at least once), hashed. The driver has its own (card/openpgp/kdf.ts); a test card
 * that borrowed it could not catch a mistake in it.
 */
function s2k(secret: Uint8Array, salt: Uint8Array, count: number): Uint8Array {
  const unit = Buffer.concat([salt, secret]);
  return Uint8Array.from(createHash('sha256').update(Buffer.alloc(Math.max(count, unit.length), unit)).digest());
}

/** A KDF-DO (F9) with ITERSALTED_S2K SHA-256, and the derived hashes of the given PINs. */
export function makeKdf(pw1: string, rc: string | undefined, pw3: string): { kdfDo: Uint8Array; pw1: Uint8Array; pw3: Uint8Array; rc: Uint8Array } {
  const count = 0x02000000 >>> 5; // 1 MiB of hashing: quick enough for a simulator
  const salts = [randomBytes(8), randomBytes(8), randomBytes(8)].map((b) => Uint8Array.from(b)) as [Uint8Array, Uint8Array, Uint8Array];
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const d1 = s2k(enc(pw1), salts[0], count);
  const d3 = s2k(enc(pw3), salts[2], count);
  const kdfDo = concat(
    tlv(0x81, Uint8Array.of(0x03)),
    tlv(0x82, Uint8Array.of(0x08)),
    tlv(0x83, Uint8Array.of(count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff)),
    tlv(0x84, salts[0]),
    tlv(0x85, salts[1]),
    tlv(0x86, salts[2]),
    tlv(0x87, d1),
    tlv(0x88, d3),
  );
  return { kdfDo, pw1: d1, pw3: d3, rc: rc === undefined ? new Uint8Array(0) : s2k(enc(rc), salts[1], count) };
}

export async function loadState(path: string): Promise<CardState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let state: CardState;
  try {
    state = JSON.parse(text) as CardState;
  } catch (err) {
    throw new ConfigError(`${path} is not a virtual card state file (${(err as Error).message}); move it away to start with a new card`);
  }
  if (typeof state !== 'object' || state === null || state.version !== 1) {
    throw new ConfigError(`${path}: unknown virtual card state version ${String((state as { version?: unknown } | null)?.version)}`);
  }
  return state;
}

/** Written to a temporary file and renamed, so a crash never leaves half a card. Mode 0600: it holds keys. */
export async function saveState(path: string, state: CardState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  await rename(tmp, path);
}

export const doGet = (state: CardState, tag: number): Uint8Array | undefined => {
  const v = state.dos[tag.toString(16)];
  return v === undefined ? undefined : unhex(v);
};
export const doSet = (state: CardState, tag: number, value: Uint8Array): void => {
  if (value.length === 0) delete state.dos[tag.toString(16)];
  else state.dos[tag.toString(16)] = hex(value);
};
