import { WireFormatError } from '../errors.js';

/** CRC-24 of RFC 9580 §6.1 (init B704CE, generator 864CFB). */
export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

export type ArmorKind = 'SIGNATURE' | 'PUBLIC KEY BLOCK' | 'MESSAGE';

/** ASCII armor (RFC 9580 §6.2): header line, blank line, base64 in 64-column lines, CRC-24, footer. */
export function armor(kind: ArmorKind, data: Uint8Array): string {
  const b64 = Buffer.from(data).toString('base64');
  const lines: string[] = [`-----BEGIN PGP ${kind}-----`, ''];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  const crc = crc24(data);
  lines.push(`=${Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64')}`);
  lines.push(`-----END PGP ${kind}-----`, '');
  return lines.join('\n');
}

export interface Dearmored {
  readonly kind: string;
  readonly data: Uint8Array;
}

/**
 * Every armored block in `text` (git hands over one; a keyring file may hold several). Headers
 * (Comment:, Version:) are skipped; a CRC that does not match is an error, a missing one is not
 * (RFC 9580 makes it optional).
 */
export function dearmorAll(text: string): Dearmored[] {
  const out: Dearmored[] = [];
  const lines = text.split(/\r?\n/);
  let i = 0;
  while (i < lines.length) {
    const begin = /^-----BEGIN PGP (.+)-----\s*$/.exec(lines[i]!);
    i++;
    if (begin === null) continue;
    const kind = begin[1]!;
    // Armor headers run to the first blank line.
    let j = i;
    while (j < lines.length && /^[\w-]+: /.test(lines[j]!)) j++;
    if (j < lines.length && lines[j]!.trim() === '') j++;
    else j = i;
    const body: string[] = [];
    let crc: string | undefined;
    let ended = false;
    for (; j < lines.length; j++) {
      const line = lines[j]!.trim();
      if (line === `-----END PGP ${kind}-----`) {
        ended = true;
        break;
      }
      if (line.startsWith('=') && line.length === 5) crc = line.slice(1);
      else body.push(line);
    }
    if (!ended) throw new WireFormatError(`armor "${kind}" has no END line`, 0);
    const b64 = body.join('');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new WireFormatError(`armor "${kind}" holds characters that are not base64`, 0);
    const data = Uint8Array.from(Buffer.from(b64, 'base64'));
    if (crc !== undefined) {
      const want = Buffer.from(crc, 'base64');
      const got = crc24(data);
      if (want.length !== 3 || ((want[0]! << 16) | (want[1]! << 8) | want[2]!) !== got) throw new WireFormatError(`armor "${kind}" checksum does not match`, 0);
    }
    out.push({ kind, data });
    i = j + 1;
  }
  return out;
}

/** Binary OpenPGP data from `input`: dearmored when it is armored, as is otherwise. */
export function readOpenPgpData(input: Uint8Array): Uint8Array[] {
  // Binary OpenPGP starts with a packet header (top bit set); armor starts with text.
  if (input.length > 0 && (input[0]! & 0x80) !== 0) return [input];
  return dearmorAll(Buffer.from(input).toString('utf8')).map((d) => d.data);
}
