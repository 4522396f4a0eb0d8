import { WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { ExtensionName } from './codes.js';
import type { Extension, Response } from './messages.js';

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
 * The reply to `query` (draft-miller-ssh-agent-14 §3.8.1 onwards):
 *
 *   byte      SSH_AGENT_EXTENSION_RESPONSE
 *   string    "query"
 *   string[]  supported extension types
 *
 * We write the `string[]` as one SSH string wrapping the names, each itself an SSH string, as
 * ssh-agent-lib (which follows the draft) does. Upstream OpenSSH 9.2's ssh-agent does not
 * implement `query` at all and answers SSH_AGENT_FAILURE.
 */
export function queryResponse(names: readonly string[]): Response {
  const w = new Writer();
  w.begin();
  for (const n of names) w.string(n);
  w.finish();
  return { type: 'extension-response', name: ExtensionName.QUERY, contents: w.toBytes() };
}

function readNames(r: Reader): string[] {
  const names: string[] = [];
  while (r.remaining > 0) names.push(r.string());
  return names;
}

/**
 * The extension names in an agent's answer to `query`, accepting the shapes found in the wild:
 * SSH_AGENT_EXTENSION_RESPONSE "query" with the names wrapped in one string (ssh-agent-lib, us)
 * or laid out flat (other draft readers), and the older SSH_AGENT_SUCCESS + uint32 count +
 * names of pivy-agent. Anything else is a WireFormatError.
 */
export function decodeQueryReply(resp: Response): string[] {
  if (resp.type === 'extension-response') {
    if (resp.name !== ExtensionName.QUERY) {
      throw new WireFormatError(`extension response names "${resp.name}", not "query"`, 1);
    }
    const c = resp.contents;
    // A wrapped list starts with its own byte length; a flat one with the first name's length.
    // A flat list of one name looks wrapped too, so fall back when the inside is not names.
    if (c.length >= 4 && new Reader(c).u32() === c.length - 4) {
      try {
        return readNames(new Reader(c).sub());
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
      }
    }
    return readNames(new Reader(c));
  }
  if (resp.type === 'success' && resp.contents !== undefined) {
    const r = new Reader(resp.contents);
    const n = r.u32();
    if (n > r.remaining / 4) throw new WireFormatError(`query reply claims ${n} names in ${r.remaining} bytes`, 1);
    const names: string[] = [];
    for (let i = 0; i < n; i++) names.push(r.string());
    r.end('query reply');
    return names;
  }
  throw new WireFormatError(`${resp.type} is not an answer to query`, 0);
}
