import { AgentError, WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import type { Extension, Response } from './messages.js';

/**
 * Two private agent extensions (draft-miller-ssh-agent §3.8) that give OpenPGP signing with the
 * card's signature key. Our project has no domain of its own; `.invalid` is reserved (RFC 2606,
 * RFC 6761 §6.4) so that no one else can ever own the names, and `-v00` leaves room for a new
 * wire format. See the README, "Signing git commits with the card (OpenPGP)".
 *
 *   list:  string "openpgp-keys-v00@openpgp-card-agent.invalid"        (no contents)
 *   reply: byte SSH_AGENT_EXTENSION_RESPONSE, string the same name,
 *          uint32 count, then per key:
 *            string ident ("0006:12345678")   byte slot (1 signature, 2 decryption, 3 authentication)
 *            string fingerprint (20 bytes, v4) uint32 generation time (seconds since 1970)
 *            byte OpenPGP algorithm (1 RSA, 18 ECDH, 19 ECDSA, 22 EdDSALegacy)
 *            RSA: string n, string e (unsigned big-endian)
 *            EC:  string curve OID (DER content), string point (04||X||Y, or 32 native bytes)
 *
 *   sign:  string "openpgp-sign-v00@openpgp-card-agent.invalid"
 *          string fingerprint of a signature key (20 bytes)   byte hash algorithm (RFC 9580 §9.5)
 *          string digest   string purpose (UTF-8, for prompts: "git commit", "certificate", ...)
 *   reply: byte SSH_AGENT_EXTENSION_RESPONSE, string the same name,
 *          string raw signature (RSA s; ECDSA r||s; EdDSA R||S, each half padded to its size)
 *
 * A request the agent understood but could not serve (unknown key, no PIN, card error) gets
 * SSH_AGENT_EXTENSION_FAILURE; an agent without these extensions answers SSH_AGENT_FAILURE.
 */
export const OpenPgpExtension = {
  KEYS: 'openpgp-keys-v00@openpgp-card-agent.invalid',
  SIGN: 'openpgp-sign-v00@openpgp-card-agent.invalid',
} as const;

export const KEY_SLOT = { signature: 1, decryption: 2, authentication: 3 } as const;
export type KeySlotName = keyof typeof KEY_SLOT;

export type OpenPgpKeyParts =
  | { readonly algorithm: 1; readonly n: Uint8Array; readonly e: Uint8Array }
  | { readonly algorithm: 18 | 19 | 22; readonly oid: Uint8Array; readonly point: Uint8Array };

export interface OpenPgpKeyEntry {
  readonly ident: string;
  readonly slot: KeySlotName;
  readonly fingerprint: Uint8Array;
  readonly created: number;
  readonly parts: OpenPgpKeyParts;
}

export interface OpenPgpSignRequest {
  readonly fingerprint: Uint8Array;
  readonly hashAlgorithm: number;
  readonly digest: Uint8Array;
  readonly purpose: string;
}

const FINGERPRINT_BYTES = 20;
/** ident string, slot, fingerprint string, time, algorithm, two strings: a floor for count checks. */
const MIN_ENTRY_BYTES = 4 + 1 + 4 + FINGERPRINT_BYTES + 4 + 1 + 4 + 4;
const MAX_PURPOSE = 200;

export function keysRequest(): Extension {
  return { kind: 'other', name: OpenPgpExtension.KEYS, contents: new Uint8Array(0) };
}

export function decodeKeysRequest(contents: Uint8Array): void {
  new Reader(contents).end('openpgp-keys request');
}

export function keysReply(keys: readonly OpenPgpKeyEntry[]): Response {
  const w = new Writer();
  w.u32(keys.length);
  for (const k of keys) {
    w.string(k.ident).u8(KEY_SLOT[k.slot]).bytes(k.fingerprint).u32(k.created).u8(k.parts.algorithm);
    if (k.parts.algorithm === 1) w.bytes(k.parts.n).bytes(k.parts.e);
    else w.bytes(k.parts.oid).bytes(k.parts.point);
  }
  return { type: 'extension-response', name: OpenPgpExtension.KEYS, contents: w.toBytes() };
}

export function decodeKeysReply(resp: Response): OpenPgpKeyEntry[] {
  const r = new Reader(replyContents(resp, OpenPgpExtension.KEYS));
  const at = r.offset;
  const n = r.u32();
  if (n > r.remaining / MIN_ENTRY_BYTES) throw new WireFormatError(`key count ${n} exceeds what ${r.remaining} bytes can hold`, at);
  const keys: OpenPgpKeyEntry[] = [];
  for (let i = 0; i < n; i++) {
    const ident = r.string();
    const slotAt = r.offset;
    const slotByte = r.u8();
    const slot = (Object.keys(KEY_SLOT) as KeySlotName[]).find((s) => KEY_SLOT[s] === slotByte);
    if (slot === undefined) throw new WireFormatError(`unknown key slot ${slotByte}`, slotAt);
    const fingerprint = fingerprintOf(r);
    const created = r.u32();
    const algAt = r.offset;
    const algorithm = r.u8();
    let parts: OpenPgpKeyParts;
    if (algorithm === 1) parts = { algorithm, n: r.bytes(), e: r.bytes() };
    else if (algorithm === 18 || algorithm === 19 || algorithm === 22) parts = { algorithm, oid: r.bytes(), point: r.bytes() };
    else throw new WireFormatError(`unknown OpenPGP algorithm ${algorithm}`, algAt);
    keys.push({ ident, slot, fingerprint, created, parts });
  }
  r.end('openpgp-keys reply');
  return keys;
}

export function signRequest(req: OpenPgpSignRequest): Extension {
  const w = new Writer();
  w.bytes(req.fingerprint).u8(req.hashAlgorithm).bytes(req.digest).string(req.purpose);
  return { kind: 'other', name: OpenPgpExtension.SIGN, contents: w.toBytes() };
}

export function decodeSignRequest(contents: Uint8Array): OpenPgpSignRequest {
  const r = new Reader(contents);
  const fingerprint = fingerprintOf(r);
  const hashAlgorithm = r.u8();
  const digest = r.bytes();
  const at = r.offset;
  const purpose = r.string();
  if (purpose.length > MAX_PURPOSE || /[\p{Cc}]/u.test(purpose)) throw new WireFormatError('purpose is too long or holds control characters', at);
  r.end('openpgp-sign request');
  return { fingerprint, hashAlgorithm, digest, purpose };
}

export function signReply(signature: Uint8Array): Response {
  return { type: 'extension-response', name: OpenPgpExtension.SIGN, contents: new Writer().bytes(signature).toBytes() };
}

export function decodeSignReply(resp: Response): Uint8Array {
  const r = new Reader(replyContents(resp, OpenPgpExtension.SIGN));
  const sig = r.bytes();
  r.end('openpgp-sign reply');
  return sig;
}

/** Thrown by the reply decoders when the agent refused (failure) rather than answered. */
export class ExtensionRefusedError extends AgentError {
  override readonly code = 'E_AGENT_REFUSED';
  constructor(
    readonly reply: 'failure' | 'extension-failure',
    name: string,
  ) {
    super(reply === 'failure' ? `the agent does not support ${name}` : `the agent could not serve ${name}`);
  }
}

function replyContents(resp: Response, name: string): Uint8Array {
  if (resp.type === 'failure' || resp.type === 'extension-failure') throw new ExtensionRefusedError(resp.type, name);
  if (resp.type !== 'extension-response') throw new WireFormatError(`${resp.type} is not an answer to ${name}`, 0);
  if (resp.name !== name) throw new WireFormatError(`extension response names "${resp.name}", not "${name}"`, 1);
  return resp.contents;
}

function fingerprintOf(r: Reader): Uint8Array {
  const at = r.offset;
  const f = r.bytes();
  if (f.length !== FINGERPRINT_BYTES) throw new WireFormatError(`a v4 fingerprint has ${FINGERPRINT_BYTES} bytes, not ${f.length}`, at);
  return f;
}
