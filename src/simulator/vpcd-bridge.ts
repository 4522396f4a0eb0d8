import { connect, type Socket } from 'node:net';
import type { Logger } from '../log.js';

/** What the bridge needs of a card: the VirtualCard fits. */
export interface BridgedCard {
  readonly atr: Uint8Array;
  process(apdu: Uint8Array): Promise<Uint8Array>;
  reset(): void;
}

/** vpcd control messages: one byte (vsmartcard's vpcd.h). */
export const VPCD_CTRL = { OFF: 0x00, ON: 0x01, RESET: 0x02, ATR: 0x04 } as const;

/**
 * Splits the vpcd byte stream into messages: a 2-byte big-endian length, then that many bytes.
 * vpcd writes the length and the payload separately, so messages arrive in pieces.
 */
export class VpcdFramer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (msg: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) return;
      const msg = this.buf.subarray(2, 2 + len);
      this.buf = this.buf.subarray(2 + len);
      this.onMessage(msg);
    }
  }
}

export function vpcdFrame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, 2);
  return out;
}

/**
 * Plugs a card into pcscd through vsmartcard's vpcd driver: vpcd listens on a TCP port per
 * reader and the card connects to it. When vpcd goes away (pcscd restarts) the card reconnects,
 * as if re-inserted. Messages are handled strictly one after the other.
 */
export class VpcdBridge {
  private socket: Socket | undefined;
  private closed = false;
  private queue: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private connectedOnce = false;
  /** vpcd has asked for the ATR: pcscd is about to report the card present. */
  private seenByReader = false;

  constructor(
    private readonly card: BridgedCard,
    private readonly port: number,
    private readonly host = '127.0.0.1',
    private readonly log?: Logger,
  ) {}

  start(): void {
    if (this.closed) return;
    const s = connect({ host: this.host, port: this.port });
    s.setNoDelay(true);
    this.socket = s;
    const framer = new VpcdFramer((msg) => {
      const m = Buffer.from(msg);
      this.queue = this.queue.then(() => this.handle(s, m)).catch((err: unknown) => this.log?.warn({ err }, 'vpcd message failed'));
    });
    s.on('connect', () => {
      this.log?.info({ port: this.port }, this.connectedOnce ? 'reconnected to vpcd' : 'connected to vpcd');
      this.connectedOnce = true;
    });
    s.on('data', (chunk: Buffer) => framer.push(chunk));
    s.on('error', () => undefined);
    s.on('close', () => {
      this.socket = undefined;
      this.seenByReader = false;
      if (this.closed) return;
      this.card.reset();
      this.retryTimer = setTimeout(() => this.start(), 200);
    });
  }

  private async handle(s: Socket, msg: Buffer): Promise<void> {
    if (msg.length === 1) {
      switch (msg[0]) {
        case VPCD_CTRL.OFF:
        case VPCD_CTRL.RESET:
          this.card.reset();
          return;
        case VPCD_CTRL.ON:
          this.card.reset();
          return;
        case VPCD_CTRL.ATR:
          s.write(vpcdFrame(this.card.atr));
          if (!this.seenByReader) this.log?.info({ port: this.port }, 'pcscd sees the card');
          this.seenByReader = true;
          return;
        default:
          // A one-byte APDU cannot exist; answer like a card that got too little.
          s.write(vpcdFrame(Uint8Array.of(0x67, 0x00)));
          return;
      }
    }
    const response = await this.card.process(msg);
    s.write(vpcdFrame(response));
  }

  /** Pulls the card out for good. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const s = this.socket;
    if (s === undefined) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }
}
