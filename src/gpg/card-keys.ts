import { CardUnavailableError } from '../errors.js';
import { keyFromParts, type PublicKey } from '../openpgp/key.js';
import { toHex } from '../openpgp/packet.js';
import { decodeKeysReply, decodeSignReply, keysRequest, signRequest, type KeySlotName, type OpenPgpKeyEntry } from '../protocol/openpgp-extension.js';
import type { AgentClient } from './agent-client.js';

/** One of a card's keys as an OpenPGP key, rebuilt from what the agent lists. */
export interface CardKey {
  readonly ident: string;
  readonly slot: KeySlotName;
  readonly key: PublicKey;
  readonly fingerprint: Uint8Array;
  /** The rebuilt fingerprint equals the one the card stores (C7–C9). */
  readonly matchesCard: boolean;
}

/** A card's keys: its signature key and the others. */
export interface CardKeys {
  readonly ident: string;
  readonly signature: CardKey;
  readonly decryption?: CardKey;
  readonly authentication?: CardKey;
}

/** Every plugged card with a signature key, as the agent lists them (openpgp-keys-v00@…). */
export async function listCardKeys(client: AgentClient): Promise<CardKeys[]> {
  const entries = decodeKeysReply(await client.request({ type: 'extension', extension: keysRequest() }));
  const byIdent = new Map<string, Partial<Record<KeySlotName, CardKey>>>();
  for (const e of entries) {
    const k = toCardKey(e);
    if (k === undefined) continue;
    const slots = byIdent.get(e.ident) ?? {};
    slots[e.slot] = k;
    byIdent.set(e.ident, slots);
  }
  const out: CardKeys[] = [];
  for (const [ident, slots] of byIdent) {
    if (slots.signature === undefined) continue;
    out.push({ ident, signature: slots.signature, ...(slots.decryption === undefined ? {} : { decryption: slots.decryption }), ...(slots.authentication === undefined ? {} : { authentication: slots.authentication }) });
  }
  return out;
}

function toCardKey(e: OpenPgpKeyEntry): CardKey | undefined {
  try {
    const built = keyFromParts(e.parts, e.created, e.fingerprint);
    // The fingerprint is the card's when it matches; else ours (the card's names a key we cannot rebuild).
    return { ident: e.ident, slot: e.slot, key: built.key, fingerprint: built.fingerprint, matchesCard: built.matchesCard };
  } catch {
    return undefined; // a curve or algorithm OpenPGP packets here do not cover
  }
}

/** Has the card sign `digest` (openpgp-sign-v00@…): the raw signature. */
export async function signWithCard(client: AgentClient, key: CardKey, hashAlgorithm: number, digest: Uint8Array, purpose: string): Promise<Uint8Array> {
  try {
    return decodeSignReply(await client.request({ type: 'extension', extension: signRequest({ fingerprint: key.fingerprint, hashAlgorithm, digest, purpose }) }));
  } catch (err) {
    if (err instanceof Error && err.name === 'ExtensionRefusedError') {
      throw new CardUnavailableError(
        `${err.message}: card ${key.ident} did not sign with key ${toHex(key.fingerprint)}. ` +
          `The agent's log says why (a PIN not yet given: ssh-add -s ${key.ident}; the card removed; an agent without OpenPGP signing)`,
      );
    }
    throw err;
  }
}
