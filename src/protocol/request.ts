import { WireFormatError } from '../errors.js';
import { Secret } from '../secret.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { AgentRequest } from './codes.js';
import { readConstraints, writeConstraints } from './constraints.js';
import { readExtension, writeExtension } from './extension.js';
import type { AddIdentityBody, Request } from './messages.js';
import { readPrivateKey, writePrivateKey } from './private-key.js';

function readAddIdentity(r: Reader, constrained: boolean): AddIdentityBody & { constraints?: ReturnType<typeof readConstraints> } {
  const keyType = r.string();
  const key = readPrivateKey(keyType, r);
  if (key === null) {
    // Certificates, sk-* and anything newer: we cannot delimit the fields, so keep the bytes.
    return { key: { keyType: 'unknown', name: keyType }, raw: r.rest() };
  }
  const comment = r.string();
  if (!constrained) {
    r.end('SSH_AGENTC_ADD_IDENTITY');
    return { key, comment };
  }
  return { key, comment, constraints: readConstraints(r) };
}

/**
 * Decodes a client request (the frame body: type byte onwards). Throws only WireFormatError; an
 * unknown type decodes to `{ type: 'unknown' }`. Byte views point into `body`.
 */
export function decodeRequest(body: Uint8Array): Request {
  const r = new Reader(body);
  const code = r.u8();
  switch (code) {
    case AgentRequest.SSH_AGENTC_REQUEST_IDENTITIES:
      r.end('SSH_AGENTC_REQUEST_IDENTITIES');
      return { type: 'request-identities' };
    case AgentRequest.SSH_AGENTC_SIGN_REQUEST: {
      // draft-miller-ssh-agent §3.6
      const keyBlob = r.bytes();
      const data = r.bytes();
      const flags = r.u32();
      r.end('SSH_AGENTC_SIGN_REQUEST');
      return { type: 'sign-request', keyBlob, data, flags };
    }
    case AgentRequest.SSH_AGENTC_ADD_IDENTITY:
      return { type: 'add-identity', ...readAddIdentity(r, false) };
    case AgentRequest.SSH_AGENTC_ADD_ID_CONSTRAINED: {
      const { constraints, ...rest } = readAddIdentity(r, true);
      return { type: 'add-id-constrained', ...rest, constraints: constraints ?? [] };
    }
    case AgentRequest.SSH_AGENTC_REMOVE_IDENTITY: {
      const keyBlob = r.bytes();
      r.end('SSH_AGENTC_REMOVE_IDENTITY');
      return { type: 'remove-identity', keyBlob };
    }
    case AgentRequest.SSH_AGENTC_REMOVE_ALL_IDENTITIES:
      r.end('SSH_AGENTC_REMOVE_ALL_IDENTITIES');
      return { type: 'remove-all-identities' };
    case AgentRequest.SSH_AGENTC_ADD_SMARTCARD_KEY: {
      const readerId = r.string();
      const pin = new Secret(r.bytes());
      r.end('SSH_AGENTC_ADD_SMARTCARD_KEY');
      return { type: 'add-smartcard-key', readerId, pin };
    }
    case AgentRequest.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED: {
      const readerId = r.string();
      const pinBytes = r.bytes();
      const constraints = readConstraints(r);
      return { type: 'add-smartcard-key-constrained', readerId, pin: new Secret(pinBytes), constraints };
    }
    case AgentRequest.SSH_AGENTC_REMOVE_SMARTCARD_KEY: {
      const readerId = r.string();
      const pin = new Secret(r.bytes());
      r.end('SSH_AGENTC_REMOVE_SMARTCARD_KEY');
      return { type: 'remove-smartcard-key', readerId, pin };
    }
    case AgentRequest.SSH_AGENTC_LOCK:
    case AgentRequest.SSH_AGENTC_UNLOCK: {
      const passphrase = new Secret(r.bytes());
      r.end(code === AgentRequest.SSH_AGENTC_LOCK ? 'SSH_AGENTC_LOCK' : 'SSH_AGENTC_UNLOCK');
      return { type: code === AgentRequest.SSH_AGENTC_LOCK ? 'lock' : 'unlock', passphrase };
    }
    case AgentRequest.SSH_AGENTC_EXTENSION:
      return { type: 'extension', extension: readExtension(r) };
    default:
      return { type: 'unknown', code, body: r.rest() };
  }
}

/** Encodes a request body (type byte onwards). The inverse of decodeRequest. */
export function encodeRequest(req: Request): Uint8Array {
  const w = new Writer();
  switch (req.type) {
    case 'request-identities':
      w.u8(AgentRequest.SSH_AGENTC_REQUEST_IDENTITIES);
      break;
    case 'sign-request':
      w.u8(AgentRequest.SSH_AGENTC_SIGN_REQUEST).bytes(req.keyBlob).bytes(req.data).u32(req.flags);
      break;
    case 'add-identity':
    case 'add-id-constrained': {
      const constrained = req.type === 'add-id-constrained';
      w.u8(constrained ? AgentRequest.SSH_AGENTC_ADD_ID_CONSTRAINED : AgentRequest.SSH_AGENTC_ADD_IDENTITY);
      if ('raw' in req) {
        w.string(req.key.name).raw(req.raw);
      } else {
        writePrivateKey(w, req.key);
        w.string(req.comment);
        if (req.type === 'add-id-constrained') writeConstraints(w, req.constraints);
      }
      break;
    }
    case 'remove-identity':
      w.u8(AgentRequest.SSH_AGENTC_REMOVE_IDENTITY).bytes(req.keyBlob);
      break;
    case 'remove-all-identities':
      w.u8(AgentRequest.SSH_AGENTC_REMOVE_ALL_IDENTITIES);
      break;
    case 'add-smartcard-key':
      w.u8(AgentRequest.SSH_AGENTC_ADD_SMARTCARD_KEY).string(req.readerId).bytes(req.pin.reveal());
      break;
    case 'add-smartcard-key-constrained':
      w.u8(AgentRequest.SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED).string(req.readerId).bytes(req.pin.reveal());
      writeConstraints(w, req.constraints);
      break;
    case 'remove-smartcard-key':
      w.u8(AgentRequest.SSH_AGENTC_REMOVE_SMARTCARD_KEY).string(req.readerId).bytes(req.pin.reveal());
      break;
    case 'lock':
      w.u8(AgentRequest.SSH_AGENTC_LOCK).bytes(req.passphrase.reveal());
      break;
    case 'unlock':
      w.u8(AgentRequest.SSH_AGENTC_UNLOCK).bytes(req.passphrase.reveal());
      break;
    case 'extension':
      w.u8(AgentRequest.SSH_AGENTC_EXTENSION);
      writeExtension(w, req.extension);
      break;
    case 'unknown':
      if (Object.values(AgentRequest).includes(req.code as never)) {
        throw new WireFormatError(`message type ${req.code} is known; encode it by its own tag`, 0);
      }
      w.u8(req.code).raw(req.body);
      break;
  }
  return w.toBytes();
}
