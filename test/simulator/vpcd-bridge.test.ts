import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualCard } from '../../src/simulator/virtual-card.js';
import { VPCD_CTRL, VpcdBridge, VpcdFramer, vpcdFrame } from '../../src/simulator/vpcd-bridge.js';

const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SELECT = unhex('00a4040006d27600012401');
// Extended Le: with a short Le the card may answer 61xx (GET RESPONSE), which is not the bridge's business.
const GET_DATA_6E = unhex('00ca006e000000');

describe('vpcd framing', () => {
  it('frames with a 2-byte big-endian length', () => {
    expect(hex(vpcdFrame(unhex('04')))).toBe('000104');
    expect(hex(vpcdFrame(new Uint8Array(0x1234)).subarray(0, 2))).toBe('1234');
    expect(hex(vpcdFrame(new Uint8Array(0)))).toBe('0000');
  });

  it('reassembles messages split at any offset, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (messages, cutSeeds) => {
          const stream = Buffer.concat(messages.map((m) => vpcdFrame(m)));
          const cuts = [...new Set(cutSeeds.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const got: string[] = [];
          const framer = new VpcdFramer((m) => got.push(hex(m)));
          let from = 0;
          for (const cut of [...cuts, stream.length]) {
            framer.push(stream.subarray(from, cut));
            from = cut;
          }
          expect(got).toEqual(messages.map(hex));
        },
      ),
    );
  });

  it('delivers nothing until a message is complete', () => {
    const got: Buffer[] = [];
    const framer = new VpcdFramer((m) => got.push(m));
    const frame = vpcdFrame(SELECT);
    for (let i = 0; i < frame.length - 1; i++) framer.push(frame.subarray(i, i + 1));
    expect(got).toEqual([]);
    framer.push(frame.subarray(frame.length - 1));
    expect(got.map(hex)).toEqual([hex(SELECT)]);
  });
});

/** A stand-in for vpcd: listens, accepts the card's connection, sends requests, reads replies. */
class FakeVpcd {
  connections = 0;
  private socket: Socket | undefined;
  private replies: Buffer[] = [];
  private waiters: Array<(b: Buffer) => void> = [];
  private connectWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];

  private constructor(private readonly server: Server) {}

  static async listen(port = 0): Promise<FakeVpcd> {
    const server = createServer();
    const fake = new FakeVpcd(server);
    server.on('connection', (s) => fake.accept(s));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private accept(s: Socket): void {
    this.connections++;
    this.socket = s;
    const framer = new VpcdFramer((m) => {
      const w = this.waiters.shift();
      if (w) w(Buffer.from(m));
      else this.replies.push(Buffer.from(m));
    });
    s.on('data', (c: Buffer) => framer.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      for (const w of this.closeWaiters.splice(0)) w();
    });
    for (const w of this.connectWaiters.splice(0)) w();
  }

  connected(): Promise<void> {
    return this.socket !== undefined && !this.socket.destroyed ? Promise.resolve() : new Promise((r) => this.connectWaiters.push(r));
  }

  closedByPeer(): Promise<void> {
    return this.socket === undefined || this.socket.destroyed ? Promise.resolve() : new Promise((r) => this.closeWaiters.push(r));
  }

  /** Like vpcd: the length and the payload go out as two writes. */
  send(payload: Uint8Array): void {
    const frame = vpcdFrame(payload);
    this.socket!.write(frame.subarray(0, 2));
    this.socket!.write(frame.subarray(2));
  }

  async request(payload: Uint8Array): Promise<Buffer> {
    this.send(payload);
    const ready = this.replies.shift();
    return ready ?? new Promise((r) => this.waiters.push(r));
  }

  dropClient(): void {
    this.socket?.destroy();
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('VpcdBridge against a fake vpcd', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(): Promise<{ vpcd: FakeVpcd; card: VirtualCard; bridge: VpcdBridge }> {
    const vpcd = await FakeVpcd.listen();
    cleanups.push(() => vpcd.close());
    const card = await VirtualCard.create({ authAlgorithm: 'ed25519' });
    const bridge = new VpcdBridge(card, vpcd.port);
    cleanups.push(() => bridge.close());
    bridge.start();
    await vpcd.connected();
    return { vpcd, card, bridge };
  }

  it('answers GET ATR with the card ATR and APDUs with the card response', async () => {
    const { vpcd, card } = await setup();
    vpcd.send(Uint8Array.of(VPCD_CTRL.ON));
    expect(hex(await vpcd.request(Uint8Array.of(VPCD_CTRL.ATR)))).toBe(hex(card.atr));
    expect(hex(await vpcd.request(SELECT))).toBe('9000');
    const aid = await vpcd.request(GET_DATA_6E);
    expect(hex(aid.subarray(-2))).toBe('9000');
    expect(aid[0]).toBe(0x6e);
  });

  it('power off and reset reach the card: the application must be selected again', async () => {
    const { vpcd } = await setup();
    for (const ctrl of [VPCD_CTRL.OFF, VPCD_CTRL.RESET]) {
      expect(hex(await vpcd.request(SELECT))).toBe('9000');
      expect(hex((await vpcd.request(GET_DATA_6E)).subarray(-2))).toBe('9000');
      vpcd.send(Uint8Array.of(ctrl));
      // Replies come in order, so this one is answered after the control message took effect.
      expect(hex(await vpcd.request(GET_DATA_6E))).toBe('6985');
    }
  });

  it('reconnects when vpcd drops it (pcscd restart), and the card comes back unselected', async () => {
    const { vpcd } = await setup();
    expect(hex(await vpcd.request(SELECT))).toBe('9000');
    vpcd.dropClient();
    await new Promise((r) => setTimeout(r, 10));
    await vpcd.connected();
    expect(vpcd.connections).toBe(2);
    expect(hex(await vpcd.request(GET_DATA_6E))).toBe('6985');
    expect(hex(await vpcd.request(SELECT))).toBe('9000');
  });

  it('keeps trying while nobody listens, and connects once vpcd is there', async () => {
    const probe = await FakeVpcd.listen();
    const port = probe.port;
    await probe.close(); // the port is now free: the bridge's first attempts are refused
    const card = await VirtualCard.create({ authAlgorithm: 'ed25519' });
    const bridge = new VpcdBridge(card, port);
    cleanups.push(() => bridge.close());
    bridge.start();
    await new Promise((r) => setTimeout(r, 300));
    const vpcd = await FakeVpcd.listen(port);
    cleanups.push(() => vpcd.close());
    await vpcd.connected();
    expect(hex(await vpcd.request(Uint8Array.of(VPCD_CTRL.ATR)))).toBe(hex(card.atr));
  });

  it('close() disconnects for good: vpcd sees the card leave and no new connection', async () => {
    const { vpcd, bridge } = await setup();
    const gone = vpcd.closedByPeer();
    await bridge.close();
    await gone;
    await new Promise((r) => setTimeout(r, 300));
    expect(vpcd.connections).toBe(1);
  });
});
