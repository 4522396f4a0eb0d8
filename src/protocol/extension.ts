import { WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { ExtensionName } from './codes.js';
import type { Extension } from './messages.js';

/** Parses the extension name and contents of SSH_AGENTC_EXTENSION, draft-miller-ssh-agent §3.8. */
export function readExtension(r: Reader): Extension {
  const name = r.string();
  if (name === ExtensionName.QUERY) {
    r.end('query extension');
    return { kind: 'query' };
  }
  if (name === ExtensionName.SESSION_BIND) {
    // OpenSSH PROTOCOL.agent §1: string hostkey, string session identifier,
    // string signature, bool is_forwarding.
    const hostKey = r.bytes();
    const sessionId = r.bytes();
    const signature = r.bytes();
    const at = r.offset;
    const flag = r.u8();
    if (flag > 1) throw new WireFormatError(`session-bind is_forwarding must be 0 or 1, got ${flag}`, at);
    r.end('session-bind extension');
    return { kind: 'session-bind', hostKey, sessionId, signature, forwarding: flag === 1 };
  }
  return { kind: 'other', name, contents: r.rest() };
}

export function writeExtension(w: Writer, ext: Extension): void {
  switch (ext.kind) {
    case 'query':
      w.string(ExtensionName.QUERY);
      break;
    case 'session-bind':
      w.string(ExtensionName.SESSION_BIND)
        .bytes(ext.hostKey)
        .bytes(ext.sessionId)
        .bytes(ext.signature)
        .bool(ext.forwarding);
      break;
    case 'other':
      w.string(ext.name).raw(ext.contents);
      break;
  }
}

/**
 * The contents after SSH_AGENT_SUCCESS in answer to `query` (draft-miller-ssh-agent §3.8.1:
 * "string[] extension type"): uint32 count, then each name, as the OpenSSH-derived agents that
 * implement it do (e.g. pivy-agent's process_ext_query). Upstream OpenSSH 9.2's ssh-agent does
 * not implement `query` and answers SSH_AGENT_FAILURE.
 */
export function encodeQueryReply(names: readonly string[]): Uint8Array {
  const w = new Writer();
  w.u32(names.length);
  for (const n of names) w.string(n);
  return w.toBytes();
}

export function decodeQueryReply(contents: Uint8Array): string[] {
  const r = new Reader(contents);
  const n = r.u32();
  if (n > r.remaining / 4) throw new WireFormatError(`query reply claims ${n} names in ${r.remaining} bytes`, 0);
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(r.string());
  r.end('query reply');
  return names;
}
