import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { configureLogging, getLogger, setRootLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';

/** A stream that keeps what is written to it. */
function sink(): Writable & { lines: string[] } {
  const lines: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return Object.assign(w, { lines });
}

afterEach(() => setRootLogger(pino({ level: 'silent' })));

describe('configureLogging', () => {
  it('gives each target its own level (JSON when not on a TTY)', () => {
    const out = sink();
    configureLogging({ DEBUG: 'warn,agent=debug,card=trace' }, false, out);
    getLogger('card').trace('apdu');
    getLogger('agent').debug('request');
    getLogger('agent').trace('too detailed');
    getLogger('server').info('not shown');
    getLogger('server').warn('shown');
    const parsed = out.lines.map((l) => JSON.parse(l) as { target: string; msg: string });
    expect(parsed.map((p) => `${p.target}:${p.msg}`)).toEqual(['card:apdu', 'agent:request', 'server:shown']);
  });

  it('passes the level to grandchildren such as per-connection loggers', () => {
    const out = sink();
    configureLogging({ DEBUG: 'info,server=debug' }, false, out);
    getLogger('server').child({ conn: 3 }).debug('connection opened');
    getLogger('agent').child({ conn: 3 }).debug('hidden');
    expect(out.lines).toHaveLength(1);
    expect(JSON.parse(out.lines[0] ?? '')).toMatchObject({ target: 'server', conn: 3, msg: 'connection opened' });
  });

  it('defaults to info and reads RUST_LOG when DEBUG is unset', () => {
    const out = sink();
    configureLogging({}, false, out);
    getLogger('pins').debug('hidden');
    getLogger('pins').info('shown');
    expect(out.lines).toHaveLength(1);
    const rust = sink();
    configureLogging({ RUST_LOG: 'off,cli=error' }, false, rust);
    getLogger('card').error('hidden');
    getLogger('cli').error('shown');
    expect(rust.lines).toHaveLength(1);
  });

  it('redacts pin, passphrase and password fields even as plain strings', () => {
    const out = sink();
    configureLogging({ DEBUG: 'trace' }, false, out);
    getLogger('pins').info({ pin: '123456', req: { passphrase: 'hunter2', password: 'pw' }, secret: new Secret('s3') }, 'stored');
    const line = out.lines.join('');
    for (const s of ['123456', 'hunter2', '"pw"', 's3']) expect(line).not.toContain(s);
    expect(JSON.parse(line)).toMatchObject({ pin: '[REDACTED]', req: { passphrase: '[REDACTED]', password: '[REDACTED]' } });
  });

  it('writes readable lines (not JSON) on a TTY, with the target and connection', () => {
    const out = sink();
    configureLogging({ DEBUG: 'debug' }, true, out);
    getLogger('server').child({ conn: 7 }).info({ pin: '999999' }, 'listening');
    const text = out.lines.join('');
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toContain('INFO');
    expect(text).toContain('[server] conn=7 listening');
    expect(text).not.toContain('999999');
  });

  it('never fails on a directive: one warning names what was ignored', () => {
    const out = sink();
    configureLogging({ DEBUG: 'express:*' }, false, out);
    getLogger('card').info('still logging');
    const parsed = out.lines.map((l) => JSON.parse(l) as { level: number; target: string; msg: string });
    expect(parsed.map((p) => [p.level, p.target])).toEqual([
      [40, 'cli'],
      [30, 'card'],
    ]);
    expect(parsed[0]?.msg).toContain('names nothing of openpgp-card-agent');
  });

  it('text output for journald: <N> priorities, no time', () => {
    const out = sink();
    configureLogging({ DEBUG: 'debug' }, { format: 'text', style: 'journal', destination: out });
    getLogger('pins').warn({ ident: '0006:12345678' }, 'keychain unreachable');
    getLogger('server').error('listener error');
    getLogger('agent').debug('request');
    expect(out.lines).toEqual([
      '<4>WARN [pins] keychain unreachable ident=0006:12345678\n',
      '<3>ERROR [server] listener error\n',
      '<7>DEBUG [agent] request\n',
    ]);
  });

  it('text output for files: ISO time, level, target, fields', () => {
    const out = sink();
    configureLogging({}, { format: 'text', style: 'file', destination: out });
    getLogger('cli').info({ address: '/run/user/1/a b.sock' }, 'agent started');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}\[cli\] agent started address="\/run\/user\/1\/a b.sock"\n$/);
  });
});
