import { answeredOk, type CardTransport } from '../../../src/card/transport.js';

/** A test transport's transmitSeries: each APDU through `transmit`, up to the first not answered 9000 (what the PC/SC thread does in one call). */
export async function transmitOneByOne(transmit: (apdu: Uint8Array) => Promise<Uint8Array>, apdus: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const apdu of apdus) {
    const r = await transmit(apdu);
    out.push(r);
    if (!answeredOk(r)) break;
  }
  return out;
}

/** A scripted card for channel tests: answers each APDU with the next response and records what it got. */
export class ScriptedTransport implements CardTransport {
  readonly name = 'scripted';
  readonly got: string[] = [];
  constructor(private readonly answers: string[]) {}
  async transmit(apdu: Uint8Array): Promise<Uint8Array> {
    this.got.push(Buffer.from(apdu).toString('hex'));
    const a = this.answers.shift();
    if (a === undefined) throw new Error(`no answer scripted for ${Buffer.from(apdu).toString('hex')}`);
    return Uint8Array.from(Buffer.from(a, 'hex'));
  }
  async close(): Promise<void> {}
}

/** As ScriptedTransport, with PC/SC's series: `calls` records how many APDUs each transmitSeries call carried. */
export class ScriptedSeriesTransport extends ScriptedTransport {
  readonly calls: number[] = [];
  transmitSeries(apdus: readonly Uint8Array[]): Promise<Uint8Array[]> {
    this.calls.push(apdus.length);
    return transmitOneByOne((a) => this.transmit(a), apdus);
  }
}
