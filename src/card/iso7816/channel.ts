import { CardStatusError } from '../../errors.js';
import type { CardTransport } from '../transport.js';
import { concatBytes } from '../../wire/bytes.js';
import { encodeCommand, SECRET_INS, SHORT_MAX_DATA, SHORT_MAX_LE, type Command } from './command.js';
import { statusError, SW } from './status.js';

export interface ChannelLimits {
  /** The card takes extended Lc/Le (7F66 present, or the card capabilities say so). */
  readonly extended: boolean;
  /** The most data bytes one command may carry; longer data goes by command chaining. */
  readonly maxCommand: number;
  /** The most response bytes to ask for in one Le. */
  readonly maxResponse: number;
}

/**
 * Called for every exchange, for trace logging. The data of VERIFY, CHANGE REFERENCE DATA and
 * RESET RETRY COUNTER arrives blanked (FF bytes of the same length).
 */
export type ApduTracer = (direction: 'command' | 'response', bytes: Uint8Array) => void;

export interface ChannelOptions {
  readonly tracer?: ApduTracer;
  /** Starting limits; short mode until the card says more (OpenPgpCard sets them from 7F66). */
  readonly limits?: ChannelLimits;
}

/** ISO 7816-4 §7.6.1 GET RESPONSE. */
export const INS_GET_RESPONSE = 0xc0;
/** ISO 7816-4 §5.4.1: CLA bit b5 set = "not the last command of a chain". */
export const CLA_CHAINING = 0x10;

export const SHORT_LIMITS: ChannelLimits = { extended: false, maxCommand: SHORT_MAX_DATA, maxResponse: SHORT_MAX_LE };

/** A card that never stops answering 61xx would keep us here forever; real cards need a few rounds. */
const MAX_GET_RESPONSE_ROUNDS = 256;

/**
 * Every APDU goes through here: chaining for long data (CLA bit 0x10), GET RESPONSE for 61xx,
 * a resend with the right Le for 6Cxx, and status words turned into typed errors.
 */
export class Iso7816Channel {
  /** Every APDU sent, including chained pieces, GET RESPONSEs and 6Cxx resends. */
  apduCount = 0;
  private limits: ChannelLimits;
  private readonly tracer: ApduTracer | undefined;

  constructor(
    readonly transport: CardTransport,
    opts: ChannelOptions = {},
  ) {
    this.tracer = opts.tracer;
    this.limits = opts.limits ?? SHORT_LIMITS;
  }

  setLimits(limits: ChannelLimits): void {
    const maxCommand = Math.max(1, Math.min(limits.maxCommand, limits.extended ? 65535 : SHORT_MAX_DATA));
    const maxResponse = Math.max(1, Math.min(limits.maxResponse, limits.extended ? 65536 : SHORT_MAX_LE));
    this.limits = { extended: limits.extended, maxCommand, maxResponse };
  }

  getLimits(): ChannelLimits {
    return this.limits;
  }

  /** Sends `cmd` and returns the response data; throws a typed error unless the card says 9000. */
  async transceive(cmd: Command, what = `INS ${cmd.ins.toString(16).padStart(2, '0').toUpperCase()}`): Promise<Uint8Array> {
    const { data, sw } = await this.transceiveRaw(cmd);
    if (sw !== SW.SUCCESS) throw statusError(what, sw);
    return data;
  }

  /** As transceive, but hands back the final status word instead of throwing (VERIFY state checks). */
  async transceiveRaw(cmd: Command): Promise<{ data: Uint8Array; sw: number }> {
    const data = cmd.data ?? new Uint8Array(0);
    const cla = cmd.cla ?? 0x00;
    const max = this.limits.maxCommand;
    // Command chaining (ISO 7816-4 §5.1.1.1): all but the last piece carry CLA bit 0x10 and no Le;
    // the card answers 9000 to each until the last. Any other answer ends the chain.
    let offset = 0;
    while (data.length - offset > max) {
      const piece = data.subarray(offset, offset + max);
      const r = await this.exchange({ cla: cla | CLA_CHAINING, ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: piece });
      if (r.sw !== SW.SUCCESS) return r;
      offset += max;
    }
    const last: Command = { ...cmd, data: data.subarray(offset) };
    return this.complete(last, await this.exchange(this.withLe(last)));
  }

  /**
   * Commands that each fit one APDU, back to back (in one transport call where the transport has
   * transmitSeries), up to the first whose final status word is not 9000: the outcomes of those
   * sent, in order, at least one; the rest were not sent. A 6Cxx or 61xx on the last one sent is
   * handled as transceiveRaw does. Commands that need chaining go one by one through transceiveRaw.
   */
  async transceiveSeries(cmds: readonly Command[]): Promise<{ data: Uint8Array; sw: number }[]> {
    const series = this.transport.transmitSeries?.bind(this.transport);
    if (cmds.length < 2 || series === undefined || cmds.some((c) => (c.data?.length ?? 0) > this.limits.maxCommand)) {
      const out: { data: Uint8Array; sw: number }[] = [];
      for (const c of cmds) {
        const r = await this.transceiveRaw(c);
        out.push(r);
        if (r.sw !== SW.SUCCESS) break;
      }
      return out;
    }
    const lasts = cmds.map((c) => this.withLe(c));
    const apdus = lasts.map((c) => encodeCommand(c, this.limits.extended));
    let resps: Uint8Array[];
    try {
      resps = await series(apdus);
    } finally {
      lasts.forEach((c, i) => {
        if (SECRET_INS.has(c.ins)) apdus[i]!.fill(0);
      });
    }
    const out: { data: Uint8Array; sw: number }[] = [];
    for (const [i, resp] of resps.entries()) {
      this.apduCount++;
      this.traceCommand(lasts[i]!, apdus[i]!);
      const r = this.received(resp);
      out.push(r.sw === SW.SUCCESS ? r : await this.complete(cmds[i]!, r));
      if (out[i]!.sw !== SW.SUCCESS) break;
    }
    return out;
  }

  /** After the first answer to `last`: a resend for 6Cxx, GET RESPONSE for 61xx. */
  private async complete(last: Command, first: { data: Uint8Array; sw: number }): Promise<{ data: Uint8Array; sw: number }> {
    let r = first;
    // 6Cxx: wrong Le; resend once with the Le the card names (xx = 00 means 256).
    if ((r.sw & 0xff00) === 0x6c00) r = await this.exchange({ ...last, le: r.sw & 0xff || 256 });
    // 61xx: xx more bytes wait (00 = 256 or more); fetch them with GET RESPONSE until the card is done.
    const parts = [r.data];
    let rounds = 0;
    while ((r.sw & 0xff00) === 0x6100) {
      if (++rounds > MAX_GET_RESPONSE_ROUNDS) throw new CardStatusError('card keeps answering 61xx to GET RESPONSE', r.sw);
      r = await this.exchange({ cla: last.cla ?? 0x00, ins: INS_GET_RESPONSE, p1: 0, p2: 0, le: r.sw & 0xff || 256 });
      parts.push(r.data);
    }
    return { data: parts.length === 1 ? parts[0]! : concatBytes(...parts), sw: r.sw };
  }

  /** Le 0 ("all there is") becomes the channel's maximum; a larger Le is capped to it. */
  private withLe(cmd: Command): Command {
    if (cmd.le === undefined) return cmd;
    const le = cmd.le === 0 ? this.limits.maxResponse : Math.min(cmd.le, this.limits.maxResponse);
    return { ...cmd, le };
  }

  private async exchange(cmd: Command): Promise<{ data: Uint8Array; sw: number }> {
    const apdu = encodeCommand(cmd, this.limits.extended);
    this.traceCommand(cmd, apdu);
    this.apduCount++;
    let resp: Uint8Array;
    try {
      resp = await this.transport.transmit(apdu);
    } finally {
      // The APDU of VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER carries a PIN.
      if (SECRET_INS.has(cmd.ins)) apdu.fill(0);
    }
    return this.received(resp);
  }

  /** Traces the command `apdu` encodes; a PIN-carrying one blanked (its `apdu` may be zeroed already). */
  private traceCommand(cmd: Command, apdu: Uint8Array): void {
    if (this.tracer === undefined) return;
    const n = cmd.data?.length ?? 0;
    this.tracer('command', SECRET_INS.has(cmd.ins) && n > 0 ? encodeCommand({ ...cmd, data: new Uint8Array(n).fill(0xff) }, this.limits.extended) : apdu);
  }

  /** A raw response (traced) as data and status word. */
  private received(resp: Uint8Array): { data: Uint8Array; sw: number } {
    this.tracer?.('response', resp);
    if (resp.length < 2) throw new CardStatusError(`response of ${resp.length} bytes has no status word`, SW.NO_PRECISE_DIAGNOSIS);
    const sw = (resp[resp.length - 2]! << 8) | resp[resp.length - 1]!;
    return { data: resp.subarray(0, resp.length - 2), sw };
  }
}
