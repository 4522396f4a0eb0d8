import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GNUPG_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/openpgp/gnupg-2.2.40');

export const readFixture = (name: string): string => readFileSync(join(GNUPG_DIR, name), 'utf8');
export const readFixtureBytes = (name: string): Uint8Array => Uint8Array.from(readFileSync(join(GNUPG_DIR, name)));

/** GnuPG's own listing (keys.colons): pub/sub lines with their fingerprints, in order. */
export interface ColonKey {
  readonly kind: 'pub' | 'sub';
  readonly bits: number;
  readonly algorithm: number;
  readonly keyId: string;
  readonly created: number;
  readonly curve: string;
  readonly fingerprint: string;
}

export function colonKeys(): ColonKey[] {
  const lines = readFixture('keys.colons').trim().split('\n');
  const keys: ColonKey[] = [];
  for (let i = 0; i < lines.length; i++) {
    const f = lines[i]!.split(':');
    if (f[0] !== 'pub' && f[0] !== 'sub') continue;
    const fpr = lines[i + 1]!.split(':')[9]!;
    keys.push({ kind: f[0], bits: Number(f[2]), algorithm: Number(f[3]), keyId: f[4]!, created: Number(f[5]), curve: f[16] ?? '', fingerprint: fpr });
  }
  return keys;
}
