import { WireFormatError } from '../errors.js';
import type { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import { ConstraintCode } from './codes.js';
import type { Constraint } from './messages.js';

/**
 * Constraint extensions whose contents OpenSSH's ssh-agent.c (parse_key_constraint_extension)
 * knows how to delimit. Any other extension swallows the rest of the message, since its bytes
 * carry no length of their own (draft-miller-ssh-agent §5.2).
 */
const KNOWN_EXTENSION_SHAPES: ReadonlyMap<string, (r: Reader) => void> = new Map<string, (r: Reader) => void>([
  ['sk-provider@openssh.com', (r) => void r.bytes()],
  ['restrict-destination-v00@openssh.com', (r) => void r.bytes()],
  [
    'associated-certs-v00@openssh.com',
    (r) => {
      r.u8();
      r.bytes();
    },
  ],
]);

/** Reads constraints until the end of `r`, draft-miller-ssh-agent §3.2.7. */
export function readConstraints(r: Reader): Constraint[] {
  const out: Constraint[] = [];
  while (r.remaining > 0) {
    const at = r.offset;
    const code = r.u8();
    switch (code) {
      case ConstraintCode.SSH_AGENT_CONSTRAIN_LIFETIME:
        out.push({ kind: 'lifetime', seconds: r.u32() });
        break;
      case ConstraintCode.SSH_AGENT_CONSTRAIN_CONFIRM:
        out.push({ kind: 'confirm' });
        break;
      case ConstraintCode.SSH_AGENT_CONSTRAIN_MAXSIGN:
        out.push({ kind: 'maxsign', maxSignatures: r.u32() });
        break;
      case ConstraintCode.SSH_AGENT_CONSTRAIN_EXTENSION: {
        const name = r.string();
        // A Map, not an object: a name such as "toString" must not find Object.prototype's.
        const shape = KNOWN_EXTENSION_SHAPES.get(name);
        const start = r.offset;
        if (shape === undefined) {
          out.push({ kind: 'extension', name, contents: r.rest() });
        } else {
          shape(r);
          out.push({ kind: 'extension', name, contents: r.buf.subarray(start, r.offset) });
        }
        break;
      }
      default:
        throw new WireFormatError(`unknown key constraint ${code}`, at);
    }
  }
  return out;
}

export function writeConstraints(w: Writer, constraints: readonly Constraint[]): void {
  for (const c of constraints) {
    switch (c.kind) {
      case 'lifetime':
        w.u8(ConstraintCode.SSH_AGENT_CONSTRAIN_LIFETIME).u32(c.seconds);
        break;
      case 'confirm':
        w.u8(ConstraintCode.SSH_AGENT_CONSTRAIN_CONFIRM);
        break;
      case 'maxsign':
        w.u8(ConstraintCode.SSH_AGENT_CONSTRAIN_MAXSIGN).u32(c.maxSignatures);
        break;
      case 'extension':
        w.u8(ConstraintCode.SSH_AGENT_CONSTRAIN_EXTENSION).string(c.name).raw(c.contents);
        break;
    }
  }
}
