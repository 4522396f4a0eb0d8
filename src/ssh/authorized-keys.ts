import { WireFormatError } from '../errors.js';
import { publicKeyType } from './public-key.js';

/** A public key as one line of authorized_keys / `ssh-add -L` output (sshd(8) AUTHORIZED_KEYS FILE FORMAT). */
export function formatAuthorizedKey(keyBlob: Uint8Array, comment = ''): string {
  const type = publicKeyType(keyBlob);
  const b64 = Buffer.from(keyBlob).toString('base64');
  const c = comment.replace(/[\r\n]+/g, ' ').trim();
  return c === '' ? `${type} ${b64}` : `${type} ${b64} ${c}`;
}

export interface AuthorizedKey {
  readonly keyType: string;
  readonly keyBlob: Uint8Array;
  readonly comment: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses "type base64 [comment]" (no options prefix). Checks that the blob names the same type
 * as the line. Throws WireFormatError otherwise.
 */
export function parseAuthorizedKey(line: string): AuthorizedKey {
  const m = /^\s*(\S+)\s+(\S+)(?:\s+(.*?))?\s*$/.exec(line);
  if (m === null) throw new WireFormatError('authorized key line needs "type base64 [comment]"', 0);
  const keyType = m[1]!;
  const b64 = m[2]!;
  if (!BASE64.test(b64) || b64.length % 4 !== 0) {
    throw new WireFormatError('authorized key is not valid base64', line.indexOf(b64));
  }
  const keyBlob = new Uint8Array(Buffer.from(b64, 'base64'));
  const inner = publicKeyType(keyBlob);
  if (inner !== keyType) throw new WireFormatError(`line says ${keyType} but the key is ${inner}`, 0);
  return { keyType, keyBlob, comment: m[3] ?? '' };
}
