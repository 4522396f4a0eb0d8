import type { CardTransport } from './transport.js';

/** One recorded exchange: a command APDU and the card's raw response (data + SW), lowercase hex. */
export interface RecordedApdu {
  /** The command exactly as the recording has it. */
  readonly cmd: string;
  readonly resp: string;
  /**
   * What our driver sends in its place, when that differs from `cmd` in the Le field only (for
   * example: go-openpgp-card sends GET RESPONSE without Le, we send Le = the xx of 61xx). The
   * replay checks that `sent` and `cmd` agree on everything but Le, so the card's recorded
   * answer stays the answer to the command we send.
   */
  readonly sent?: string;
  readonly note?: string;
}

/** Splits a command APDU into header, data and Le (undefined = absent), or undefined if it is malformed. */
export function splitApdu(apdu: Uint8Array): { head: string; data: string; le: number | undefined } | undefined {
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  if (apdu.length < 4) return undefined;
  const head = hex(apdu.subarray(0, 4));
  const body = apdu.subarray(4);
  if (body.length === 0) return { head, data: '', le: undefined };
  if (body.length === 1) return { head, data: '', le: body[0]! || 256 };
  if (body[0] !== 0) {
    const lc = body[0]!;
    if (body.length === 1 + lc) return { head, data: hex(body.subarray(1)), le: undefined };
    if (body.length === 2 + lc) return { head, data: hex(body.subarray(1, 1 + lc)), le: body[1 + lc]! || 256 };
    return undefined;
  }
  if (body.length === 3) return { head, data: '', le: ((body[1]! << 8) | body[2]!) || 65536 };
  const lc = (body[1]! << 8) | body[2]!;
  if (body.length === 3 + lc) return { head, data: hex(body.subarray(3)), le: undefined };
  if (body.length === 5 + lc) return { head, data: hex(body.subarray(3, 3 + lc)), le: ((body[3 + lc]! << 8) | body[4 + lc]!) || 65536 };
  return undefined;
}

const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/**
 * Replays a recorded exchange. Each APDU sent must equal, byte for byte, the next recorded
 * command (or its `sent` form, see RecordedApdu), and gets the recorded response. Anything else
 * rejects, so a test that replays a whole script proves the driver sent exactly those APDUs.
 */
export class ReplayTransport implements CardTransport {
  readonly name = 'replay';
  readonly sent: string[] = [];
  private i = 0;

  constructor(private readonly script: readonly RecordedApdu[]) {
    for (const [k, r] of script.entries()) {
      if (r.sent === undefined) continue;
      const a = splitApdu(unhex(r.cmd));
      const b = splitApdu(unhex(r.sent));
      if (a === undefined || b === undefined || a.head !== b.head || a.data !== b.data) {
        throw new Error(`replay step ${k}: "sent" ${r.sent} differs from the recorded ${r.cmd} in more than Le`);
      }
    }
  }

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const hex = Buffer.from(apdu).toString('hex');
    this.sent.push(hex);
    const k = this.i++;
    const next = this.script[k];
    if (next === undefined) throw new Error(`unexpected APDU ${hex}: the recording has ended after ${this.script.length}`);
    const expected = next.sent ?? next.cmd;
    if (hex !== expected) throw new Error(`replay step ${k}: sent ${hex}, the recording has ${expected}${next.note ? ` (${next.note})` : ''}`);
    return unhex(next.resp);
  }

  /** Every recorded step was used. */
  get done(): boolean {
    return this.i === this.script.length;
  }

  async close(): Promise<void> {}
}
