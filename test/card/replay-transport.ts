import type { CardTransport } from '../../src/card/transport.js';

export interface RecordedApdu {
  readonly cmd: string;
  readonly resp: string;
}

/** The parts of a command APDU that matter: header and data, without the Le encoding. */
function essence(apdu: string): string {
  const b = Buffer.from(apdu, 'hex');
  const head = b.subarray(0, 4).toString('hex');
  if (b.length <= 5) return head; // case 1 or 2: no data
  if (b[4] !== 0) {
    const lc = b[4]!;
    return head + b.subarray(5, 5 + lc).toString('hex');
  }
  if (b.length === 7) return head; // extended case 2
  const lc = (b[5]! << 8) | b[6]!;
  return head + b.subarray(7, 7 + lc).toString('hex');
}

/**
 * Replays a recorded exchange: each APDU sent must match the next recorded command (header and
 * data; Le may be encoded differently), and gets the recorded response.
 */
export class ReplayTransport implements CardTransport {
  readonly name = 'replay';
  private i = 0;
  readonly sent: string[] = [];

  constructor(private readonly script: readonly RecordedApdu[]) {}

  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    const hex = Buffer.from(apdu).toString('hex');
    this.sent.push(hex);
    const next = this.script[this.i++];
    if (next === undefined) throw new Error(`unexpected APDU ${hex}: the recording has ended`);
    if (essence(next.cmd) !== essence(hex)) throw new Error(`APDU ${hex} does not match the recorded ${next.cmd}`);
    return Uint8Array.from(Buffer.from(next.resp, 'hex'));
  }

  get done(): boolean {
    return this.i === this.script.length;
  }

  async close(): Promise<void> {}
}
