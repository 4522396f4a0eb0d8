import { CardStatusError, WireFormatError } from '../../errors.js';
import type { CardTransport } from '../transport.js';
import { concatBytes } from '../../wire/bytes.js';
import { encodeCommand, type Command } from './command.js';
import { statusError } from './status.js';

export interface ChannelLimits {
  /** The card takes extended Lc/Le. */
  readonly extended: boolean;
  /** The most data bytes one command may carry; longer data goes by command chaining. */
  readonly maxCommandData: number;
  /** The most response bytes to ask for at once. */
  readonly maxResponse: number;
}

/** Called for every exchange, for trace logging. PIN-carrying commands arrive with their data blanked. */
export type ApduTracer = (direction: 'command' | 'response', bytes: Uint8Array) => void;

/** INS whose data is a PIN: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER. */
const SECRET_INS = new Set([0x20, 0x24, 0x2c]);

export const SHORT_LIMITS: ChannelLimits = { extended: false, maxCommandData: 255, maxResponse: 256 };

/**
 * Every APDU goes through here: chaining for long data (CLA bit 0x10), GET RESPONSE for 61xx,
 * a resend with the right Le for 6Cxx, and status words turned into typed errors.
 */
export class Iso7816Channel {
  apduCount = 0;
  private limits: ChannelLimits = SHORT_LIMITS;

  constructor(
    readonly transport: CardTransport,
    private readonly tracer?: ApduTracer,
  ) {}

  setLimits(limits: ChannelLimits): void {
    this.limits = limits;
  }

  getLimits(): ChannelLimits {
    return this.limits;
  }

  /** Sends `cmd` and returns the response data; throws a typed error unless the card says 9000. */
  async transceive(cmd: Command, what = `INS ${cmd.ins.toString(16).padStart(2, '0')}`): Promise<Uint8Array> {
    const { data, sw } = await this.transceiveRaw(cmd);
    if (sw !== 0x9000) throw statusError(what, sw);
    return data;
  }

  /** As transceive, but hands back the status word instead of throwing (VERIFY status checks). */
  async transceiveRaw(cmd: Command): Promise<{ data: Uint8Array; sw: number }> {
    const data = cmd.data ?? new Uint8Array(0);
    const max = this.limits.maxCommandData;
    // Command chaining (ISO 7816-4 §5.1.1.1): all but the last piece carry CLA bit 0x10 and no Le.
    let offset = 0;
    while (data.length - offset > max) {
      const piece = data.subarray(offset, offset + max);
      const r = await this.exchange({ cla: (cmd.cla ?? 0) | 0x10, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: piece });
      if (r.sw !== 0x9000) return r;
      offset += max;
    }
    const last: Command = { ...cmd, data: data.subarray(offset) };
    let r = await this.exchange(this.withLe(last));
    // 6Cxx: wrong Le; the card says the right one (short form only).
    if ((r.sw & 0xff00) === 0x6c00) r = await this.exchange({ ...last, le: r.sw & 0xff || 256 });
    // 61xx: more data waits; fetch it with GET RESPONSE until the card is done.
    const parts = [r.data];
    let guard = 0;
    while ((r.sw & 0xff00) === 0x6100) {
      if (++guard > 512) throw new WireFormatError('card keeps answering 61xx', 0);
      r = await this.exchange({ cla: cmd.cla ?? 0, ins: 0xc0, p1: 0, p2: 0, le: r.sw & 0xff || 256 });
      parts.push(r.data);
    }
    return { data: parts.length === 1 ? parts[0]! : concatBytes(...parts), sw: r.sw };
  }

  private withLe(cmd: Command): Command {
    if (cmd.le === undefined) return cmd;
    const le = cmd.le === 0 ? this.limits.maxResponse : Math.min(cmd.le, this.limits.maxResponse);
    return { ...cmd, le: this.limits.extended ? le : Math.min(le, 256) };
  }

  private async exchange(cmd: Command): Promise<{ data: Uint8Array; sw: number }> {
    const apdu = encodeCommand(cmd, this.limits.extended);
    if (this.tracer !== undefined) {
      this.tracer('command', SECRET_INS.has(cmd.ins) && (cmd.data?.length ?? 0) > 0 ? blankData(apdu, cmd.data!.length) : apdu);
    }
    this.apduCount++;
    const resp = await this.transport.transmit(apdu);
    this.tracer?.('response', resp);
    if (resp.length < 2) throw new CardStatusError(`response of ${resp.length} bytes has no status word`, 0x6f00);
    const sw = (resp[resp.length - 2]! << 8) | resp[resp.length - 1]!;
    return { data: resp.subarray(0, resp.length - 2), sw };
  }
}

/** A copy of `apdu` with its `n` data bytes replaced by 0xFF (they follow the header and Lc). */
function blankData(apdu: Uint8Array, n: number): Uint8Array {
  const out = Uint8Array.from(apdu);
  const lcLen = apdu[4] === 0 && apdu.length > 5 + n ? 3 : 1;
  out.fill(0xff, 4 + lcLen, 4 + lcLen + n);
  return out;
}
