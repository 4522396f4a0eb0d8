import { readCardKeys, signDigest, type CardOpenPgpKeys, type CardSlotKey } from '../card/openpgp/signature-key.js';
import { AgentError, PinBlockedError, PinIncorrectError, PinRequiredError } from '../errors.js';
import type { Logger } from '../log.js';
import { HashAlgorithm } from '../openpgp/constants.js';
import { keyFromParts } from '../openpgp/key.js';
import { verifyRawSignature } from '../openpgp/verify.js';
import type { OpenPgpKeyParts } from '../protocol/openpgp-extension.js';
import { equalBytes } from '../wire/bytes.js';
import type { PinSource } from './card-key-provider.js';
import type { CardEntry, CardRegistry } from './card-registry.js';
import type { RequestContext } from './key-provider.js';
import type { OpenPgpKeyInfo, SignatureKeySource, SigningHash } from './openpgp-signing.js';

const HASH_ID: Record<SigningHash, number> = { sha224: HashAlgorithm.SHA224, sha256: HashAlgorithm.SHA256, sha384: HashAlgorithm.SHA384, sha512: HashAlgorithm.SHA512 };
const SLOT_NAME = { sig: 'signature', dec: 'decryption', aut: 'authentication' } as const;

/**
 * TEMPORARY: a SignatureKeySource over today's CardRegistry, so the OpenPGP extension works end
 * to end until the card manager implements SignatureKeySource. Keys are read once per card
 * (one 6E and three key reads); a signature is VERIFY 81 when needed, then one PSO:CDS, then a
 * check of the signature against the public key. PIN rules as in CardKeyProvider: a stored PIN
 * the card rejected is never sent again, and none is sent when one try is left.
 */
export class CardRegistrySignatureKeys implements SignatureKeySource {
  private readonly keys = new WeakMap<CardEntry, Promise<CardOpenPgpKeys>>();

  constructor(private readonly opts: { readonly registry: CardRegistry; readonly pins: PinSource; readonly log: Logger }) {}

  private keysOf(entry: CardEntry): Promise<CardOpenPgpKeys> {
    let p = this.keys.get(entry);
    if (p === undefined) {
      p = entry.queue.run(() => readCardKeys(entry.card.channel));
      p.catch(() => this.keys.delete(entry));
      this.keys.set(entry, p);
    }
    return p;
  }

  async listSignatureKeys(_ctx: RequestContext): Promise<OpenPgpKeyInfo[]> {
    const out: OpenPgpKeyInfo[] = [];
    for (const entry of this.opts.registry.list()) {
      let keys: CardOpenPgpKeys;
      try {
        keys = await this.keysOf(entry);
      } catch (err) {
        this.opts.log.warn({ ident: entry.ident, err: err instanceof Error ? err.message : String(err) }, 'could not read the OpenPGP keys of the card');
        continue;
      }
      for (const slot of ['sig', 'dec', 'aut'] as const) {
        const k = keys[slot];
        if (k === undefined || k.created === 0) continue;
        out.push({ ident: entry.ident, slot: SLOT_NAME[slot], fingerprint: k.fingerprint, created: k.created, parts: k.parts as OpenPgpKeyParts });
      }
    }
    return out;
  }

  async signDigest(fingerprint: Uint8Array, hash: SigningHash, digest: Uint8Array, ctx: RequestContext): Promise<Uint8Array | null> {
    let found: { entry: CardEntry; key: CardSlotKey; oneSignature: boolean } | undefined;
    for (const entry of this.opts.registry.list()) {
      const keys = await this.keysOf(entry).catch(() => undefined);
      if (keys?.sig !== undefined && equalBytes(keys.sig.fingerprint, fingerprint)) found = { entry, key: keys.sig, oneSignature: keys.pw1ValidForOneSignature };
    }
    if (found === undefined) return null;
    const { entry, key, oneSignature } = found;
    const raw = await entry.queue.run(async () => {
      // C4 "PW1 valid for one PSO:CDS": VERIFY before each signature. Otherwise ask the card
      // (VERIFY without data, no PIN sent) and verify only when it is not verified yet.
      if (oneSignature || !(await entry.card.pw1VerifiedState(0x81)).verified) await this.verifyStoredPin(entry);
      return signDigest(entry.card.channel, key.attributes, hash, digest);
    });
    const material = keyFromParts(key.parts, key.created, key.fingerprint).key.material;
    if (!verifyRawSignature(material, HASH_ID[hash], digest, raw)) {
      throw new AgentError(`card ${entry.ident} returned a signature that does not verify with its own public key; not used`);
    }
    ctx.conn.log.debug({ ident: entry.ident }, 'PSO:CDS signature made and checked');
    return raw;
  }

  private async verifyStoredPin(entry: CardEntry): Promise<void> {
    const pin = await this.opts.pins.get(entry.ident);
    if (pin === undefined) throw new PinRequiredError(`card ${entry.ident} needs its PIN: run  ssh-add -s ${entry.ident}`);
    const retries = await entry.card.pw1Retries();
    if (retries === 0) throw new PinBlockedError(`the PIN of card ${entry.ident} is blocked`, 0x6983);
    if (retries <= 1) throw new PinRequiredError(`card ${entry.ident} has ${retries} PIN try left; the agent will not risk it with a stored PIN. Run  ssh-add -s ${entry.ident}`);
    try {
      await entry.card.verifyPw1(pin, 0x81);
    } catch (err) {
      if (err instanceof PinIncorrectError) {
        this.opts.log.warn({ ident: entry.ident, retriesLeft: err.retriesLeft }, `the stored PIN for card ${entry.ident} is wrong; it will not be tried again`);
        await this.opts.pins.rejected(entry.ident);
      }
      throw err;
    }
  }
}
