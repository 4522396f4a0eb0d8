import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/cli/commands/doctor.js';
import type { DoctorCheck, DoctorContext } from '../../src/cli/doctor/check.js';
import { notificationDaemon, notificationsCheck } from '../../src/cli/doctor/notifications-check.js';
import { formatReport, reportExitCode, runChecks } from '../../src/cli/doctor/report.js';
import { configOptions } from '../../src/cli/doctor/scdaemon-check.js';

const ctx: DoctorContext = {
  env: {},
  platform: 'linux',
  uid: 1000,
  home: '/home/u',
  defaultAddress: { kind: 'unix', path: '/run/user/1000/openpgp-card-agent/agent.sock' },
  exec: async () => undefined,
  pcsc: async () => ({ kind: 'no-service', message: 'SCardEstablishContext: SCARD_E_NO_SERVICE' }),
  filesystemOf: () => undefined,
  pinStatus: async () => ({ location: 'none' }),
  pcscClients: () => [],
};

const check = (id: string, run: DoctorCheck['run']): DoctorCheck => ({ id, title: id, run });

describe('doctor report', () => {
  it('runs every check; one that throws fails with its error and the others still run', async () => {
    const reports = await runChecks(
      [
        check('a', async () => ({ verdict: 'ok', summary: 'fine' })),
        check('b', async () => {
          throw new Error('boom');
        }),
        check('c', async () => ({ verdict: 'warn', summary: 'hmm', detail: ['d1'], fix: ['do this', 'then that'] })),
      ],
      ctx,
    );
    expect(reports.map((r) => [r.id, r.verdict, r.summary])).toEqual([
      ['a', 'ok', 'fine'],
      ['b', 'fail', 'the check itself failed: boom'],
      ['c', 'warn', 'hmm'],
    ]);
    expect(reportExitCode(reports)).toBe(1);
    expect(formatReport(reports)).toBe(
      ['[ ok ] a  fine', '[FAIL] b  the check itself failed: boom', '[warn] c  hmm', '          d1', '          fix: do this', '               then that', '', '1 problem, 1 warning.', ''].join('\n'),
    );
  });

  it('exits 0 with warnings only, and prints JSON with --json', async () => {
    let out = '';
    const code = await runDoctor({ env: {}, json: true, stdout: async (s) => void (out += s), context: ctx, checks: [check('w', async () => ({ verdict: 'warn', summary: 'w' }))] });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ ok: true, checks: [{ id: 'w', title: 'w', verdict: 'warn', summary: 'w' }] });
  });
});

describe('GnuPG config files', () => {
  it('reads option names, skipping comments and blank lines', () => {
    expect([...configOptions('# pcsc-shared\n\n  disable-ccid  \nreader-port Yubico\nPCSC-SHARED\n')]).toEqual(['disable-ccid', 'reader-port', 'pcsc-shared']);
  });
});

describe('notifications', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers.splice(0)) s.close();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  async function socketPath(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'oca-doctor-bus-'));
    dirs.push(d);
    return join(d, 'bus');
  }
  /** A unix socket server that accepts and then does `onConnection` (nothing: never answers). */
  async function server(onConnection: (s: Socket) => void = () => undefined): Promise<string> {
    const path = await socketPath();
    const s = createServer(onConnection);
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(path, resolve));
    return path;
  }
  const withNotifySend: DoctorContext = { ...ctx, exec: async (file) => (file === 'notify-send' ? { code: 0, stdout: 'notify-send 0.8.1\n', stderr: '' } : undefined) };

  it('has nothing to check off Linux, and warns without a session bus or notify-send', async () => {
    expect(await notificationsCheck.run({ ...withNotifySend, platform: 'darwin' })).toMatchObject({ verdict: 'skip' });
    expect(await notificationsCheck.run({ ...withNotifySend, env: { XDG_RUNTIME_DIR: await socketPath() } })).toMatchObject({
      verdict: 'warn',
      summary: 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset, no $XDG_RUNTIME_DIR/bus): no desktop notifications',
    });
    const path = await server();
    expect(await notificationsCheck.run({ ...ctx, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${path}` } })).toMatchObject({ verdict: 'warn', summary: 'notify-send is not installed: no desktop notifications' });
  });

  it('a bus nobody listens on, one closed at once, or one that is no unix socket: warns that the bus does not answer, saying why', async () => {
    const missing = await socketPath();
    const f = await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${missing}` } });
    expect(f).toMatchObject({ verdict: 'warn', summary: `the D-Bus session bus (unix:path=${missing}) does not answer: no desktop notifications` });
    expect(f.detail?.[0]).toMatch(new RegExp(`^cannot reach the D-Bus session bus at ${missing}: .*ENOENT`));
    const closing = await server((s) => s.destroy());
    const c = await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${closing}` } });
    expect(c).toMatchObject({ verdict: 'warn', summary: `the D-Bus session bus (unix:path=${closing}) does not answer: no desktop notifications` });
    const tcp = await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: 'tcp:host=127.0.0.1,port=1' } });
    expect(tcp).toMatchObject({ verdict: 'warn', detail: ['DBUS_SESSION_BUS_ADDRESS names no unix socket (unix:path= or unix:abstract=)'] });
  });

  /**
   * A scripted bus driver written here byte by byte (D-Bus Specification, little-endian):
   * SASL EXTERNAL, then a METHOD_RETURN for each call `answer` has a body for; the others are
   * never answered.
   */
  function fakeBus(answer: (member: string) => { signature: string; body: Buffer } | undefined): (s: Socket) => void {
    const str = (v: string): Buffer => {
      const b = Buffer.alloc(4 + v.length + 1);
      b.writeUInt32LE(v.length, 0);
      b.write(v, 4, 'latin1');
      return b;
    };
    const pad8 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
    const reply = (replySerial: number, signature: string, body: Buffer): Buffer => {
      const serialField = Buffer.from([5, 1, 0x75, 0, 0, 0, 0, 0]); // REPLY_SERIAL, variant 'u'
      serialField.writeUInt32LE(replySerial, 4);
      const sigField = Buffer.concat([Buffer.from([8, 1, 0x67, 0, signature.length]), Buffer.from(signature, 'latin1'), Buffer.from([0])]); // SIGNATURE, variant 'g'
      const fields = Buffer.concat([serialField, sigField]);
      const head = Buffer.alloc(16);
      head.write('l', 0, 'latin1');
      head.writeUInt8(2, 1); // METHOD_RETURN
      head.writeUInt8(1, 3);
      head.writeUInt32LE(body.length, 4);
      head.writeUInt32LE(1000 + replySerial, 8);
      head.writeUInt32LE(fields.length, 12);
      return Buffer.concat([pad8(Buffer.concat([head, fields])), body]);
    };
    return (s) => {
      let held = Buffer.alloc(0);
      let authenticated = false;
      s.on('data', (chunk: Buffer) => {
        held = Buffer.concat([held, chunk]);
        if (!authenticated) {
          const text = held.toString('latin1');
          if (text.includes('AUTH EXTERNAL') && !text.includes('BEGIN\r\n')) {
            if (text.endsWith('\r\n')) s.write('OK 0123456789abcdef0123456789abcdef\r\n');
            return;
          }
          if (!text.includes('BEGIN\r\n')) return;
          authenticated = true;
          held = held.subarray(text.indexOf('BEGIN\r\n') + 7);
        }
        while (held.length >= 16) {
          const fieldsLen = held.readUInt32LE(12);
          const total = 16 + fieldsLen + ((8 - (fieldsLen % 8)) % 8) + held.readUInt32LE(4);
          if (held.length < total) return;
          const message = held.subarray(0, total);
          held = held.subarray(total);
          const serial = message.readUInt32LE(8);
          const member = /(Hello|NameHasOwner|ListActivatableNames)/.exec(message.toString('latin1'))?.[1] ?? '?';
          const a = member === 'Hello' ? { signature: 's', body: str(':1.7') } : answer(member);
          if (a !== undefined) s.write(reply(serial, a.signature, a.body));
        }
      });
    };
  }
  const bool = (v: boolean): Buffer => Buffer.from([v ? 1 : 0, 0, 0, 0]);
  const names = (...list: string[]): Buffer => {
    const items = list.map((n) => {
      const b = Buffer.alloc(4 + n.length + 1 + ((4 - ((n.length + 1) % 4)) % 4));
      b.writeUInt32LE(n.length, 0);
      b.write(n, 4, 'latin1');
      return b;
    });
    // Each string starts 4-aligned; the array's length leaves out the last one's padding.
    const body = Buffer.concat(items);
    const last = list.at(-1);
    const len = last === undefined ? 0 : body.length - ((4 - ((last.length + 1) % 4)) % 4);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(len, 0);
    return Buffer.concat([head, body.subarray(0, len)]);
  };

  it('asks the bus driver: a daemon owns the name, D-Bus can start one, or neither', async () => {
    const running = await server(fakeBus((m) => (m === 'NameHasOwner' ? { signature: 'b', body: bool(true) } : undefined)));
    expect(await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${running}` } })).toEqual({
      verdict: 'ok',
      summary: 'a notification daemon owns org.freedesktop.Notifications on the session bus',
    });
    const activatable = await server(
      fakeBus((m) => (m === 'NameHasOwner' ? { signature: 'b', body: bool(false) } : { signature: 'as', body: names('org.freedesktop.DBus', 'org.freedesktop.Notifications') })),
    );
    expect(await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${activatable}` } })).toEqual({
      verdict: 'ok',
      summary: 'D-Bus starts a notification daemon (org.freedesktop.Notifications) on first use',
    });
    const none = await server(fakeBus((m) => (m === 'NameHasOwner' ? { signature: 'b', body: bool(false) } : { signature: 'as', body: names('org.freedesktop.DBus') })));
    expect(await notificationsCheck.run({ ...withNotifySend, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${none}` } })).toMatchObject({
      verdict: 'warn',
      summary: 'no notification daemon on the session bus (nobody owns org.freedesktop.Notifications)',
    });
    expect(await notificationDaemon(none)).toBe('none');
  });

  it('a bus that says hello but never answers NameHasOwner: gives up after the timeout', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
    const path = await server((s) => {
      fakeBus(() => undefined)(s);
      s.on('close', closed);
    });
    await expect(notificationDaemon(path, 50)).rejects.toThrow('the session bus gave no answer within 0.05 s');
    await serverSawClose;
  });

  it('a bus that accepts and never answers: gives up after the timeout and closes the connection', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((resolve) => (closed = resolve));
    const path = await server((s) => s.resume().on('close', closed));
    await expect(notificationDaemon(path, 50)).rejects.toThrow(/no answer/);
    await serverSawClose;
  });
});
