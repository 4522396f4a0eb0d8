import { readFileSync } from 'node:fs';
import type { RecordedApdu } from '../../../src/simulator/replay-transport.js';

export interface SignatureVector {
  readonly key: string;
  readonly algorithm: 'secp256r1' | 'secp384r1' | 'secp521r1' | 'Ed25519';
  readonly public_key_7f49: string;
  readonly input: string;
  readonly signature: string;
}

export interface YubiKeyFixture {
  readonly aid: string;
  readonly algorithm_information: RecordedApdu;
  readonly signature_vectors: readonly SignatureVector[];
  readonly replays: Record<string, RecordedApdu[]> & { readonly kdf_do_as_written: { readonly value: string } };
}

export interface SmartPgpFixture {
  readonly apdus: readonly RecordedApdu[];
  readonly partial_apdus: readonly { readonly cmd: string; readonly resp_prefix: string }[];
}

function load<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../fixtures/cards/${name}`, import.meta.url), 'utf8')) as T;
}

export const yubikey = load<YubiKeyFixture>('yubikey5-fw5.4.3.json');
export const smartpgp = load<SmartPgpFixture>('smartpgp.json');

export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A recorded script by name; throws if the fixture lacks it. */
export function replay(name: string): RecordedApdu[] {
  const r = yubikey.replays[name];
  if (!Array.isArray(r)) throw new Error(`fixture has no replay ${name}`);
  return r;
}
