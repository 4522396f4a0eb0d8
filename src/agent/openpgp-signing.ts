import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Response } from '../protocol/messages.js';
import {
  decodeKeysRequest,
  decodeSignRequest,
  keysReply,
  OpenPgpExtension,
  signReply,
  type OpenPgpKeyEntry,
} from '../protocol/openpgp-extension.js';
import type { CardUsePolicy, ExtensionHandler } from './extension-handler.js';
import type { RequestContext } from './key-provider.js';

/** A card's OpenPGP key as the agent offers it: the signature key signs; the others are listed for certificates. */
export type OpenPgpKeyInfo = OpenPgpKeyEntry;

/** Hashes a signature may be made with (RFC 9580 §9.5 ids). SHA-1 is refused: its collisions are practical. */
export const SIGNING_HASHES = { 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' } as const;
export type SigningHash = (typeof SIGNING_HASHES)[keyof typeof SIGNING_HASHES];
const DIGEST_BYTES: Record<SigningHash, number> = { sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/**
 * Where OpenPGP signatures come from (the card manager). Errors are AgentErrors; the handler
 * turns them into SSH_AGENT_EXTENSION_FAILURE and one log line.
 */
export interface SignatureKeySource {
  /**
   * The plugged cards' OpenPGP keys: each card's signature key, and its decryption and
   * authentication keys (slot 'decryption'/'authentication'), which a certificate needs too.
   */
  listSignatureKeys(ctx: RequestContext): Promise<OpenPgpKeyInfo[]>;
  /**
   * The signature key (slot 'signature', as listSignatureKeys lists it) whose v4 fingerprint is
   * `fingerprint`, on the first plugged card that has it; undefined when none has.
   */
  signatureKey(fingerprint: Uint8Array, ctx: RequestContext): Promise<SignatureKey | undefined>;
}

/** One card's OpenPGP signature key, found once per signature request. */
export interface SignatureKey {
  /** The card's ident: its rules (ssh-add -h, --forwarded) say whether it may sign. */
  readonly ident: string;
  /**
   * Signs `digest` (made with `hash`) with this key (PSO:CDS, PW1 81). Returns the raw signature
   * (RSA s, ECDSA r||s, EdDSA R||S), checked against the public key.
   */
  sign(hash: SigningHash, digest: Uint8Array, ctx: RequestContext, options?: { readonly purpose?: string }): Promise<Uint8Array>;
}

/** The request was well-formed but names something we will not do. */
export class SignatureRefusedError extends AgentError {
  override readonly code = 'E_SIGNATURE_REFUSED';
}

/** The handlers of openpgp-keys-v00@… and openpgp-sign-v00@…, for AgentOptions.extensions. */
export function openPgpExtensions(source: SignatureKeySource, log: Logger): ReadonlyMap<string, ExtensionHandler> {
  const guarded =
    (name: string, handle: (contents: Uint8Array, ctx: RequestContext, policy: CardUsePolicy) => Promise<Response>): ExtensionHandler =>
    async (contents, ctx, policy) => {
      try {
        return await handle(contents, ctx, policy);
      } catch (err) {
        const code = err instanceof AgentError ? err.code : 'E_INTERNAL';
        const message = err instanceof Error ? err.message : String(err);
        log[err instanceof AgentError ? 'info' : 'error']({ conn: ctx.conn.id, extension: name, code }, `request failed: ${message}`);
        return { type: 'extension-failure' };
      }
    };
  return new Map<string, ExtensionHandler>([
    [
      OpenPgpExtension.KEYS,
      guarded(OpenPgpExtension.KEYS, async (contents, ctx, policy) => {
        decodeKeysRequest(contents);
        // Shown where the card's SSH key is shown (ssh-add -h, --forwarded deny).
        return keysReply((await source.listSignatureKeys(ctx)).filter((k) => policy.mayList(k.ident)));
      }),
    ],
    [
      OpenPgpExtension.SIGN,
      guarded(OpenPgpExtension.SIGN, async (contents, ctx, policy) => {
        const req = decodeSignRequest(contents);
        const hash = SIGNING_HASHES[req.hashAlgorithm as keyof typeof SIGNING_HASHES] as SigningHash | undefined;
        if (hash === undefined) throw new SignatureRefusedError(`hash algorithm ${req.hashAlgorithm} is not allowed (SHA-224/256/384/512 are)`);
        if (req.digest.length !== DIGEST_BYTES[hash]) throw new SignatureRefusedError(`a ${hash} digest has ${DIGEST_BYTES[hash]} bytes, not ${req.digest.length}`);
        const fpr = Buffer.from(req.fingerprint).toString('hex').toUpperCase();
        const host = ctx.session?.hostKeyFingerprint;
        ctx.conn.log.debug({ fingerprint: fpr, hash, purpose: req.purpose, host, forwarded: ctx.session?.forwarding }, 'OpenPGP signature requested');
        // The card's ident decides the rules; the lookup costs no APDU once the card's keys are read.
        const key = await source.signatureKey(req.fingerprint, ctx);
        if (key === undefined) throw new SignatureRefusedError(`no plugged card has the OpenPGP signature key ${fpr}`);
        if (!(await policy.maySign(key.ident, req.purpose))) throw new SignatureRefusedError(`card ${key.ident} may not sign for this connection`);
        const raw = await key.sign(hash, req.digest, ctx, { purpose: req.purpose });
        ctx.conn.log.info({ fingerprint: fpr, purpose: req.purpose }, 'OpenPGP signature made');
        return signReply(raw);
      }),
    ],
  ]);
}
