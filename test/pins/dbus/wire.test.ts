import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../../src/errors.js';
import { sessionBusPath } from '../../../src/pins/dbus/connection.js';
import { DBusReader, DBusWriter, decodeMessage, encodeMessage, MESSAGE_TYPE, messageLength, splitSignature, variant } from '../../../src/pins/dbus/wire.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function encode(type: string, value: unknown): Uint8Array {
  const w = new DBusWriter();
  w.write(type, value);
  return w.bytes();
}

describe('D-Bus wire format', () => {
  it('splits signatures into complete types', () => {
    expect(splitSignature('sa{sv}(oayays)b')).toEqual(['s', 'a{sv}', '(oayays)', 'b']);
    expect(splitSignature('aa{sa(ii)}')).toEqual(['aa{sa(ii)}']);
    expect(() => splitSignature('a')).toThrow(WireFormatError);
    expect(() => splitSignature('(ii')).toThrow(WireFormatError);
    expect(() => splitSignature('z')).toThrow(WireFormatError);
  });

  it('marshals with the spec\'s alignment: strings, arrays of dict entries (8-aligned), structs, variants', () => {
    expect(hex(encode('s', 'ab'))).toBe('02000000' + '616200');
    expect(hex(encode('g', 'a{ss}'))).toBe('05' + '617b73737d' + '00');
    // uint32 array length (excluding the padding before the first 8-aligned entry), then entries.
    expect(hex(encode('a{ss}', [['k', 'v']]))).toBe('0e000000' + '00000000' + '010000006b00' + '0000' + '010000007600');
    expect(hex(encode('ay', new Uint8Array([1, 2, 3])))).toBe('03000000010203');
    expect(hex(encode('(yu)', [1, 2]))).toBe('01000000' + '02000000');
    expect(hex(encode('v', variant('u', 7)))).toBe('017500' + '00' + '07000000');
    expect(hex(encode('b', true))).toBe('01000000');
    expect(hex(encode('t', 0x0102030405060708n))).toBe('0807060504030201');
    // An empty array of 8-aligned elements still pads to the element alignment.
    expect(hex(encode('a(ss)', []))).toBe('00000000' + '00000000');
  });

  it('reads back what it writes, for the Secret Service\'s types, in both byte orders', () => {
    const cases: Array<[string, unknown]> = [
      ['a{ss}', [['service', 'openpgp-card'], ['username', '0006:12345678']]],
      ['(oayays)', ['/org/freedesktop/secrets/session/1', new Uint8Array(0), new Uint8Array([0x31, 0x32]), 'text/plain']],
      ['a{sv}', [['Label', variant('s', 'x')], ['Attributes', variant('a{ss}', [['a', 'b']])]]],
      ['ao', ['/a', '/b/c']],
      ['a{o(oayays)}', [['/i', ['/s', new Uint8Array([1]), new Uint8Array([2, 3]), 't']]]],
      ['x', -5n],
      ['i', -2],
      ['n', -3],
      ['q', 65535],
      ['d', 1.5],
    ];
    for (const [type, value] of cases) {
      const bytes = encode(type, value);
      expect(new DBusReader(bytes, true).read(type), type).toEqual(value);
    }
    // Big-endian: a uint32 and a string written by a big-endian peer.
    const be = new Uint8Array([0, 0, 0, 7, 0, 0, 0, 2, 0x68, 0x69, 0]);
    const r = new DBusReader(be, false);
    expect(r.read('u')).toBe(7);
    expect(r.read('s')).toBe('hi');
  });

  it('encodes and decodes whole messages; the length is known from the first 16 bytes', () => {
    const m = {
      type: MESSAGE_TYPE.METHOD_CALL,
      flags: 0,
      serial: 3,
      path: '/org/freedesktop/secrets',
      interface: 'org.freedesktop.Secret.Service',
      member: 'SearchItems',
      destination: 'org.freedesktop.secrets',
      signature: 'a{ss}',
      body: [[['service', 'openpgp-card']]],
    };
    const bytes = encodeMessage(m);
    expect(bytes[0]).toBe(0x6c);
    expect(messageLength(bytes.subarray(0, 16))).toBe(bytes.length);
    expect(messageLength(bytes.subarray(0, 15))).toBeUndefined();
    expect(decodeMessage(bytes)).toMatchObject({ ...m, body: [[['service', 'openpgp-card']]] });
  });

  it('every truncation and a bad byte-order mark fail as WireFormatError, never otherwise', () => {
    const bytes = encodeMessage({ type: MESSAGE_TYPE.METHOD_RETURN, flags: 0, serial: 9, replySerial: 2, signature: 'ao', body: [['/a', '/b']] });
    for (let n = 0; n < bytes.length; n++) {
      let threw: unknown;
      try {
        decodeMessage(bytes.subarray(0, n));
      } catch (err) {
        threw = err;
      }
      expect(threw, `cut at ${n}`).toBeInstanceOf(WireFormatError);
    }
    const bad = Uint8Array.from(bytes);
    bad[0] = 0x21;
    expect(() => messageLength(bad)).toThrow(WireFormatError);
  });

  it('finds the session bus: unix:path and unix:abstract (escaped values), else $XDG_RUNTIME_DIR/bus when present', () => {
    expect(sessionBusPath({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' })).toBe('/run/user/1000/bus');
    expect(sessionBusPath({ DBUS_SESSION_BUS_ADDRESS: 'tcp:host=x,port=1;unix:abstract=/tmp/dbus-AbC,guid=12' })).toBe('\0/tmp/dbus-AbC');
    expect(sessionBusPath({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/tmp/a%20b' })).toBe('/tmp/a b');
    expect(sessionBusPath({ DBUS_SESSION_BUS_ADDRESS: 'tcp:host=x' })).toBeUndefined();
    expect(sessionBusPath({ XDG_RUNTIME_DIR: '/nonexistent-oca' })).toBeUndefined();
  });
});
