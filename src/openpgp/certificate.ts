import { WireFormatError } from '../errors.js';
import { CompressionPrefs, GNUPG_FEATURES, GNUPG_KEYSERVER_PREFS, HashPrefs, SymmetricPrefs } from './preferences.js';
import { KeyFlag, PacketTag } from './constants.js';
import { fingerprint, keyPacketBody, parseKeyPacketBody, type ParsedKey, type PublicKey } from './key.js';
import { concat, encodePacket, parsePackets } from './packet.js';
import { parseSignaturePacketBody, Subpackets, subkeyBindingSignature, userIdSelfSignature, type ParsedSignature, type PendingSignature } from './signature.js';

/** A transferable public key (RFC 9580 §10.1), as far as finding a signing key needs it. */
export interface Certificate {
  readonly primary: ParsedKey;
  readonly userIds: readonly { readonly text: string; readonly signatures: readonly ParsedSignature[] }[];
  readonly subkeys: readonly { readonly key: ParsedKey; readonly signatures: readonly ParsedSignature[] }[];
  /** Signatures directly on the primary key (revocations, direct-key signatures). */
  readonly directSignatures: readonly ParsedSignature[];
}

/**
 * Splits binary OpenPGP data into certificates. Keys of versions or algorithms we do not know
 * are kept by fingerprint only (material undefined); a v3 or v6 primary skips its certificate.
 */
export function parseCertificates(data: Uint8Array): Certificate[] {
  const out: Certificate[] = [];
  type Building = {
    primary: ParsedKey;
    userIds: { text: string; signatures: ParsedSignature[] }[];
    subkeys: { key: ParsedKey; signatures: ParsedSignature[] }[];
    directSignatures: ParsedSignature[];
  };
  let cur: Building | undefined;
  let sigTarget: ParsedSignature[] | undefined;
  let skipping = false;
  for (const p of parsePackets(data)) {
    if (p.tag === PacketTag.PUBLIC_KEY) {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
      skipping = false;
      try {
        const primary = parseKeyPacketBody(p.body);
        cur = { primary, userIds: [], subkeys: [], directSignatures: [] };
        sigTarget = cur.directSignatures;
      } catch (err) {
        if (err instanceof WireFormatError) throw err;
        skipping = true;
      }
      continue;
    }
    if (skipping || cur === undefined) continue;
    if (p.tag === PacketTag.USER_ID) {
      const uid = { text: new TextDecoder().decode(p.body), signatures: [] as ParsedSignature[] };
      cur.userIds.push(uid);
      sigTarget = uid.signatures;
    } else if (p.tag === PacketTag.PUBLIC_SUBKEY) {
      try {
        const sk = { key: parseKeyPacketBody(p.body), signatures: [] as ParsedSignature[] };
        cur.subkeys.push(sk);
        sigTarget = sk.signatures;
      } catch (err) {
        if (err instanceof WireFormatError) throw err;
        sigTarget = undefined;
      }
    } else if (p.tag === PacketTag.SIGNATURE) {
      try {
        sigTarget?.push(parseSignaturePacketBody(p.body));
      } catch (err) {
        if (err instanceof WireFormatError) throw err;
        // A v3/v6 signature among v4 ones: not ours to judge here.
      }
    } else {
      // User attributes and unknown packets: their signatures are not ours to judge.
      sigTarget = undefined;
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** A subkey for a new certificate, with its key flags. */
export interface CertificateSubkey {
  readonly key: PublicKey;
  readonly flags: number;
}

export interface CertificateRequest {
  readonly primary: PublicKey;
  readonly userId: string;
  readonly subkeys: readonly CertificateSubkey[];
  readonly hashAlgorithm: number;
  /** Creation time of the signatures (the keys keep theirs). */
  readonly created: number;
  /** Makes the raw signature of a digest with the primary key (the card). */
  readonly sign: (pending: PendingSignature) => Promise<Uint8Array>;
}

/**
 * A certificate for card keys: primary key, one user ID with a positive self-certification
 * (key flags certify + sign, preferences and features as GnuPG 2.2 writes them), then each
 * subkey with its binding signature. No subkey here can sign, so none needs a primary key
 * binding (0x19) back-signature (RFC 9580 §5.2.1.9).
 */
export async function makeCertificate(req: CertificateRequest): Promise<Uint8Array> {
  const signer = { key: req.primary, fingerprint: fingerprint(req.primary) };
  const uid = new TextEncoder().encode(req.userId);
  const selfSig = userIdSelfSignature(signer, uid, {
    hashAlgorithm: req.hashAlgorithm,
    created: req.created,
    subpackets: [
      Subpackets.keyFlags(KeyFlag.CERTIFY | KeyFlag.SIGN),
      Subpackets.preferredSymmetric(SymmetricPrefs),
      Subpackets.preferredHash(HashPrefs),
      Subpackets.preferredCompression(CompressionPrefs),
      Subpackets.features(GNUPG_FEATURES),
      Subpackets.keyServerPreferences(GNUPG_KEYSERVER_PREFS),
    ],
  });
  const parts: Uint8Array[] = [
    encodePacket(PacketTag.PUBLIC_KEY, keyPacketBody(req.primary)),
    encodePacket(PacketTag.USER_ID, uid),
    selfSig.finish(await req.sign(selfSig)),
  ];
  for (const sk of req.subkeys) {
    if ((sk.flags & (KeyFlag.SIGN | KeyFlag.CERTIFY)) !== 0) {
      throw new WireFormatError('a signing subkey needs a primary key binding signature made by the subkey; not supported', 0);
    }
    const binding = subkeyBindingSignature(signer, sk.key, { hashAlgorithm: req.hashAlgorithm, created: req.created, keyFlags: sk.flags });
    parts.push(encodePacket(PacketTag.PUBLIC_SUBKEY, keyPacketBody(sk.key)), binding.finish(await req.sign(binding)));
  }
  return concat(parts);
}

/** The e-mail address in a user ID "Name (comment) <addr>", or the whole ID when it is a bare address. */
export function emailOf(userId: string): string | undefined {
  const m = /<([^<>\s]+@[^<>\s]+)>\s*$/.exec(userId);
  if (m !== null) return m[1]!.toLowerCase();
  const bare = userId.trim();
  return /^[^\s<>@]+@[^\s<>@]+$/.test(bare) ? bare.toLowerCase() : undefined;
}
