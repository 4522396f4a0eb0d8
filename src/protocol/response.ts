import { WireFormatError } from '../errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';
import { AgentResponse } from './codes.js';
import type { Identity, RequestType, Response } from './messages.js';

/** Each identity needs at least two empty strings: a bound on the count before we loop. */
const MIN_IDENTITY_BYTES = 8;

/**
 * Decodes an agent reply body (type byte onwards). Throws only WireFormatError.
 *
 * SSH_AGENT_SUCCESS carries bytes only in answer to an extension (draft-miller-ssh-agent §3.8:
 * an extension may answer SUCCESS with extension-specific contents). Given the request type the
 * reply answers, SUCCESS with contents to anything but an extension is refused; without it the
 * contents are kept, whatever they are.
 */
export function decodeResponse(body: Uint8Array, forRequestType?: RequestType): Response {
  const r = new Reader(body);
  const code = r.u8();
  switch (code) {
    case AgentResponse.SSH_AGENT_FAILURE:
      r.end('SSH_AGENT_FAILURE');
      return { type: 'failure' };
    case AgentResponse.SSH_AGENT_SUCCESS: {
      if (forRequestType !== undefined && forRequestType !== 'extension' && forRequestType !== 'unknown') {
        r.end('SSH_AGENT_SUCCESS');
      }
      const contents = r.rest();
      return contents.length === 0 ? { type: 'success' } : { type: 'success', contents };
    }
    case AgentResponse.SSH_AGENT_IDENTITIES_ANSWER: {
      // draft-miller-ssh-agent §3.5
      const at = r.offset;
      const n = r.u32();
      if (n > r.remaining / MIN_IDENTITY_BYTES) {
        throw new WireFormatError(`identity count ${n} exceeds what ${r.remaining} bytes can hold`, at);
      }
      const identities: Identity[] = [];
      for (let i = 0; i < n; i++) {
        const keyBlob = r.bytes();
        const comment = r.string();
        identities.push({ keyBlob, comment });
      }
      r.end('SSH_AGENT_IDENTITIES_ANSWER');
      return { type: 'identities-answer', identities };
    }
    case AgentResponse.SSH_AGENT_SIGN_RESPONSE: {
      // draft-miller-ssh-agent §3.6
      const signature = r.bytes();
      r.end('SSH_AGENT_SIGN_RESPONSE');
      return { type: 'sign-response', signature };
    }
    case AgentResponse.SSH_AGENT_EXTENSION_FAILURE:
      r.end('SSH_AGENT_EXTENSION_FAILURE');
      return { type: 'extension-failure' };
    case AgentResponse.SSH_AGENT_EXTENSION_RESPONSE: {
      // draft-miller-ssh-agent §3.8
      const name = r.string();
      return { type: 'extension-response', name, contents: r.rest() };
    }
    default:
      return { type: 'unknown', code, body: r.rest() };
  }
}

/** Encodes an agent reply body. The inverse of decodeResponse. */
export function encodeResponse(resp: Response): Uint8Array {
  const w = new Writer();
  switch (resp.type) {
    case 'failure':
      w.u8(AgentResponse.SSH_AGENT_FAILURE);
      break;
    case 'success':
      w.u8(AgentResponse.SSH_AGENT_SUCCESS);
      if (resp.contents !== undefined) w.raw(resp.contents);
      break;
    case 'identities-answer':
      w.u8(AgentResponse.SSH_AGENT_IDENTITIES_ANSWER).u32(resp.identities.length);
      for (const id of resp.identities) w.bytes(id.keyBlob).string(id.comment);
      break;
    case 'sign-response':
      w.u8(AgentResponse.SSH_AGENT_SIGN_RESPONSE).bytes(resp.signature);
      break;
    case 'extension-failure':
      w.u8(AgentResponse.SSH_AGENT_EXTENSION_FAILURE);
      break;
    case 'extension-response':
      w.u8(AgentResponse.SSH_AGENT_EXTENSION_RESPONSE).string(resp.name).raw(resp.contents);
      break;
    case 'unknown':
      if (Object.values(AgentResponse).includes(resp.code as never)) {
        throw new WireFormatError(`message type ${resp.code} is known; encode it by its own tag`, 0);
      }
      w.u8(resp.code).raw(resp.body);
      break;
  }
  return w.toBytes();
}
