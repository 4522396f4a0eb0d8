import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { PcscMonitor } from '../../src/card/pcsc/pcsc-monitor.js';
import type { PcscTransport } from '../../src/card/pcsc/pcsc-transport.js';
import { CardBusyError, CardRemovedError, CardUnavailableError } from '../../src/errors.js';
import { REPO_ROOT, cleanEnv, cleanupSystem, runProgram } from './harness/agent-process.js';
import { IP, PCSCD, PcscSandbox, VPCD_DRIVER } from './harness/pcsc-sandbox.js';
import { describeWithTools } from './harness/sshd.js';

/**
 * Our PC/SC layer (PcscTransport, PcscMonitor) against the real pcscd with virtual cards behind
 * vpcd: no agent in between. Shares the one pcscd of the sandbox, so the steps run in order.
 */

const READER_0 = 'OCA Virtual Reader 00 00';
const READER_1 = 'OCA Virtual Reader 00 01';
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sw = (r: Uint8Array): string => hex(r.subarray(-2));
/** OpenPGP card 3.4.1 §7.2.1: SELECT the OpenPGP application by its AID prefix. */
const SELECT = unhex('00A4040006D27600012401');
/** OpenPGP card 3.4.1 §7.2.6: GET DATA, Application Related Data (6E), extended Le 0000. */
const GET_DATA_6E_EXT = unhex('00CA006E000000');
/** Children that talk to the sandbox's pcscd (cleanEnv() hides pcscd otherwise). */
const REAL_PCSCD = { PCSCLITE_CSOCK_NAME: undefined };

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A monitor with its events and log lines recorded. */
function recordedMonitor(): { monitor: PcscMonitor; events: string[]; logs: Array<{ level: number; msg: string }>; scans: () => number } {
  const logs: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const monitor = new PcscMonitor(log, 100);
  const events: string[] = [];
  let scans = 0;
  monitor.on('card-inserted', (r) => events.push(`card-inserted ${r}`));
  monitor.on('card-removed', (r) => events.push(`card-removed ${r}`));
  monitor.on('reader-removed', (r) => events.push(`reader-removed ${r}`));
  monitor.on('scanned', () => scans++);
  return { monitor, events, logs, scans: () => scans };
}

/** A second process using the card through the smartcard addon, like another application. */
function otherApp(body: string): string {
  return `
    const { createRequire } = require('node:module');
    const sc = createRequire(${JSON.stringify(join(REPO_ROOT, 'package.json'))})('smartcard');
    (async () => {
      const ctx = new sc.Context();
      const reader = ctx.listReaders().find((r) => r.name === ${JSON.stringify(READER_0)});
      ${body}
    })().catch((e) => { console.error(e.message); process.exit(1); });`;
}

async function selected(transport: PcscTransport): Promise<void> {
  expect(sw(await transport.transmit(SELECT))).toBe('9000');
}

describeWithTools('PcscTransport and PcscMonitor over pcscd + vpcd', [PCSCD, VPCD_DRIVER, IP], () => {
  let sandbox: PcscSandbox | undefined;
  const open: PcscTransport[] = [];
  const monitors: PcscMonitor[] = [];
  let holder: ChildProcess | undefined;
  /** Set while a test has pcscd stopped, so that the next test starts it again if that test failed. */
  let pcscdDown = false;

  const watch = (): ReturnType<typeof recordedMonitor> => {
    const m = recordedMonitor();
    monitors.push(m.monitor);
    m.monitor.start();
    return m;
  };
  const connect = async (monitor: PcscMonitor, reader = READER_0): Promise<PcscTransport> => {
    const t = await monitor.connect(reader);
    open.push(t);
    return t;
  };
  const closeAll = async (): Promise<void> => {
    for (const t of open.splice(0)) await t.close();
  };

  beforeAll(async () => {
    sandbox = await PcscSandbox.start({ cards: 1, algo: 'ed25519' });
  });

  beforeEach(async () => {
    if (!pcscdDown) return;
    await sandbox!.startPcscd();
    pcscdDown = false;
  });

  afterAll(async () => {
    holder?.kill('SIGKILL');
    for (const m of monitors) m.stop();
    await closeAll().catch(() => undefined);
    await sandbox?.stop(); // before cleanupSystem(), which removes the sandbox's directory
    await cleanupSystem();
  });

  it('the virtual card shows up as a reader with a card', async () => {
    const { events } = watch();
    await eventually('the monitor reports the card', () => events.includes(`card-inserted ${READER_0}`));
    expect(events).toEqual([`card-inserted ${READER_0}`]);
  });

  it('SELECT answers 9000; GET DATA 6E with an extended Le returns the whole Application Related Data', async () => {
    const { monitor } = watch();
    const t = await connect(monitor);
    expect(t.name).toBe(READER_0);
    await selected(t);
    const r = await t.transmit(GET_DATA_6E_EXT);
    expect(sw(r)).toBe('9000');
    expect(r[0]).toBe(0x6e);
    // The AID (4F) inside carries the OpenPGP RID and application.
    expect(hex(r)).toContain('4f10d2760001240103');
    await t.close();
    await t.close(); // idempotent
  });

  it('a card plugged in and pulled out at runtime: card-inserted, then card-removed; a transport to it reports the removal', async () => {
    const { monitor, events } = watch();
    await eventually('the first card is seen', () => events.includes(`card-inserted ${READER_0}`));
    await sandbox!.card(1, 'card-b', '--algo', 'p256');
    await eventually('the second card is seen', () => events.includes(`card-inserted ${READER_1}`));
    const t = await connect(monitor, READER_1);
    await selected(t);
    await sandbox!.uncard(1);
    await eventually('the removal is seen', () => events.includes(`card-removed ${READER_1}`));
    await expect(t.transmit(GET_DATA_6E_EXT)).rejects.toBeInstanceOf(CardRemovedError);
    await expect(monitor.connect(READER_1)).rejects.toBeInstanceOf(CardRemovedError);
    expect(events.filter((e) => e.endsWith(READER_0))).toEqual([`card-inserted ${READER_0}`]);
  });

  it('pcscd killed and restarted: monitors (even one started while pcscd was away) and new transports recover', async () => {
    const before = watch();
    await eventually('the card is seen', () => before.events.includes(`card-inserted ${READER_0}`));
    const old = await connect(before.monitor);
    await selected(old);

    await sandbox!.killPcscd();
    pcscdDown = true;
    await eventually('the monitor sees the card and reader go', () => before.events.includes(`reader-removed ${READER_0}`));
    expect(before.events.filter((e) => e.endsWith(READER_0))).toEqual([`card-inserted ${READER_0}`, `card-removed ${READER_0}`, `reader-removed ${READER_0}`]);
    // The empty second slot's reader goes too.
    expect(before.events).toContain(`reader-removed ${READER_1}`);
    await expect(old.transmit(GET_DATA_6E_EXT)).rejects.toBeInstanceOf(CardUnavailableError);
    const refused = await before.monitor.connect(READER_0).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CardUnavailableError);
    expect((refused as Error).message).toMatch(/pcscd is not running/);

    const absentAtStart = watch();
    await eventually('both monitors retried a few times', () => absentAtStart.scans() >= 3 && before.scans() >= 6);
    // One warning each while pcscd is away, however often they retried.
    for (const m of [before, absentAtStart]) {
      expect(m.logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['pcscd is not reachable; cards will appear when it is']);
    }

    await sandbox!.startPcscd();
    pcscdDown = false;
    for (const m of [before, absentAtStart]) {
      await eventually('the card is seen again', () => m.events.filter((e) => e === `card-inserted ${READER_0}`).length === (m === before ? 2 : 1));
      expect(m.logs.map((l) => l.msg)).toContain('pcscd is back');
    }
    await old.close();
    const fresh = await connect(absentAtStart.monitor);
    await selected(fresh);
    expect(sw(await fresh.transmit(GET_DATA_6E_EXT))).toBe('9000');
    await closeAll();
  });

  it('a card held exclusively by another process: CardBusyError naming scdaemon and pcsc-shared; once released it works', async () => {
    await closeAll();
    const { monitor, events } = watch();
    await eventually('the card is seen', () => events.includes(`card-inserted ${READER_0}`));
    holder = spawn(
      process.execPath,
      [
        '-e',
        otherApp(`
          await reader.connect(sc.SCARD_SHARE_EXCLUSIVE, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1);
          console.log('holding');
          setInterval(() => {}, 1000);`),
      ],
      { env: cleanEnv(REAL_PCSCD), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const h = holder;
    await new Promise<void>((resolve, reject) => {
      let err = '';
      h.stdout!.on('data', (d: Buffer) => (d.toString().includes('holding') ? resolve() : undefined));
      h.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      h.once('exit', (code) => reject(new Error(`holder exited ${code}: ${err}`)));
    });
    const busy = await monitor.connect(READER_0).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(CardBusyError);
    expect((busy as Error).message).toContain('scdaemon');
    expect((busy as Error).message).toContain('pcsc-shared');

    const exited = new Promise((r) => h.once('exit', r));
    h.kill('SIGKILL');
    await exited;
    holder = undefined;
    // pcscd frees a dead client's exclusive hold when it notices the closed socket.
    let t: PcscTransport | undefined;
    await eventually('the card can be taken', async () => {
      t = await monitor.connect(READER_0).catch(() => undefined);
      return t !== undefined;
    });
    open.push(t!);
    await selected(t!);
  });

  it('a reset by another application: the transport reconnects, calls onReset, and the command goes through', async () => {
    await closeAll();
    const { monitor } = watch();
    const t = await connect(monitor);
    await selected(t);
    let resets = 0;
    t.onReset = async () => {
      resets++;
      // What the layer above does: the reset deselected the application.
      await selected(t);
    };
    const r = await runProgram(
      process.execPath,
      ['-e', otherApp(`
        const card = await reader.connect(sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1);
        card.disconnect(sc.SCARD_RESET_CARD);
        ctx.close();`)],
      { env: cleanEnv(REAL_PCSCD) },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const answer = await t.transmit(GET_DATA_6E_EXT);
    expect(resets).toBe(1);
    expect(sw(answer)).toBe('9000');
    // Without onReset's SELECT, the card (reset: nothing selected) would have answered 6985.
    t.onReset = undefined;
    expect(sw(await t.transmit(GET_DATA_6E_EXT))).toBe('9000');
  });
});
