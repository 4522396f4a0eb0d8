import { ConfigError } from '../errors.js';
import { emailOf } from '../openpgp/certificate.js';
import { toHex } from '../openpgp/packet.js';
import type { CardKeys, CardKey } from './card-keys.js';
import { certificateHolding, certificateKeys, type KnownCertificate } from './certificates.js';

/** The key a signature will be made with, and how it was found. */
export interface SigningChoice {
  readonly card: CardKeys;
  readonly key: CardKey;
  /** The certificate's primary key fingerprint (the card key's own when it is the primary, or no certificate is known). */
  readonly primaryFingerprint: Uint8Array;
  /** The certificate's user ID that matched, when the key was found by user ID. */
  readonly userId: string | undefined;
  /** The e-mail address the key was found by (GnuPG then adds a signer's user ID subpacket). */
  readonly byEmail: string | undefined;
}

const HEX = /^[0-9A-F]+$/;

/**
 * Finds the card signature key `spec` names, as gpg's -u does: a fingerprint (40 hex digits,
 * spaces, "0x" and a trailing "!" allowed), a long (16) or short (8) key ID, of the card key or
 * of a known certificate that holds it (a card key that is a signing subkey of the user's
 * certificate is found by the primary's ID too); else a user ID of a known certificate: by
 * e-mail when `spec` has one ("Name <a@b>", "a@b", "<a@b>"), else by a case-insensitive
 * substring. git passes user.signingkey, or "Name <email>" of the committer when none is set.
 */
export function selectSigningKey(spec: string, cards: readonly CardKeys[], certs: readonly KnownCertificate[]): SigningChoice {
  const onCard = (fpr: Uint8Array): CardKeys | undefined => cards.find((c) => toHex(c.signature.fingerprint) === toHex(fpr));
  const choice = (card: CardKeys, userId?: string, byEmail?: string): SigningChoice => {
    const cert = certificateHolding(certs, card.signature.fingerprint);
    return { card, key: card.signature, primaryFingerprint: cert?.certificate.primary.fingerprint ?? card.signature.fingerprint, userId: userId ?? cert?.validUserIds[0], byEmail };
  };
  const cardInCert = (k: KnownCertificate): CardKeys | undefined => {
    for (const key of certificateKeys(k)) {
      const c = onCard(key.fingerprint);
      if (c !== undefined) return c;
    }
    return undefined;
  };

  const compact = spec.trim().replace(/!$/, '').replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
  if (HEX.test(compact) && (compact.length === 40 || compact.length === 16 || compact.length === 8)) {
    const matches = (fpr: Uint8Array): boolean => toHex(fpr).endsWith(compact);
    const direct = cards.find((c) => matches(c.signature.fingerprint));
    if (direct !== undefined) return choice(direct);
    for (const k of certs) {
      if (!certificateKeys(k).some((key) => matches(key.fingerprint))) continue;
      const card = cardInCert(k);
      if (card !== undefined) return choice(card);
    }
    throw new ConfigError(`no plugged card holds the signing key ${spec}${describeCards(cards)}`);
  }

  const email = emailOf(spec.replace(/^<(.*)>$/, '$1'));
  const wanted = spec.trim().toLowerCase();
  for (const k of certs) {
    const uid = k.validUserIds.find((u) => (email !== undefined ? emailOf(u) === email : u.toLowerCase().includes(wanted)));
    if (uid === undefined) continue;
    const card = cardInCert(k);
    if (card !== undefined) return choice(card, uid, email);
  }
  throw new ConfigError(
    `no known certificate with the user ID "${spec}" holds a key on a plugged card${describeCards(cards)}. ` +
      'Set the key in git (git config user.signingkey FINGERPRINT; openpgp-card-agent gpg -K lists the cards\' keys), ' +
      'or put your certificate into the certificate directory (see the README)',
  );
}

function describeCards(cards: readonly CardKeys[]): string {
  if (cards.length === 0) return ' (the agent lists no card with an OpenPGP signature key)';
  return ` (cards: ${cards.map((c) => `${c.ident} signature key ${toHex(c.signature.fingerprint)}`).join(', ')})`;
}
