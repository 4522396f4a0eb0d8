import { equalBytes } from '../wire/bytes.js';
import { parseCommandApdu, type CommandApdu } from './command-apdu.js';
import type { CardTransport } from '../card/transport.js';

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

const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** The same command but for its Le (and so perhaps its short or extended form). */
function sameButLe(a: CommandApdu, b: CommandApdu): boolean {
  return a.cla === b.cla && a.ins === b.ins && a.p1 === b.p1 && a.p2 === b.p2 && equalBytes(a.data, b.data);
}

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
      // Parsed as the card parses them (the simulator's parser), so "Le only" means what it means to a card.
      const a = parseCommandApdu(unhex(r.cmd));
      const b = parseCommandApdu(unhex(r.sent));
      if (a === undefined || b === undefined || !sameButLe(a, b)) {
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
