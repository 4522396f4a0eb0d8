import { describe, expect, it } from 'vitest';
import { Iso7816Channel } from '../../../src/card/iso7816/channel.js';
import { CardStatusError, PinBlockedError, PinIncorrectError } from '../../../src/errors.js';
import { ScriptedSeriesTransport, ScriptedTransport } from './scripted-transport.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Iso7816Channel: response assembly', () => {
  it('collects 61xx pieces with GET RESPONSE, Le = xx', async () => {
    const t = new ScriptedTransport(['aabb6102', 'ccdd9000']);
    const ch = new Iso7816Channel(t);
    expect(hex(await ch.transceive({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 }))).toBe('aabbccdd');
    expect(t.got).toEqual(['00ca006e00', '00c0000002']);
    expect(ch.apduCount).toBe(2);
  });

  it('keeps asking while the card says 6100 (256 or more), as a YubiKey does for RSA 4096 keys', async () => {
    const a = 'a1'.repeat(256);
    const b = 'b2'.repeat(256);
    const t = new ScriptedTransport([a + '6100', b + '6105', 'c3c3c3c3c3' + '9000']);
    const ch = new Iso7816Channel(t);
    const out = await ch.transceive({ ins: 0x47, p1: 0x81, p2: 0, data: unhex('a400'), le: 0 });
    expect(out.length).toBe(256 + 256 + 5);
    expect(hex(out)).toBe(a + b + 'c3c3c3c3c3');
    expect(t.got).toEqual(['0047810002a40000', '00c0000000', '00c0000005']);
  });

  it('GET RESPONSE carries the CLA of the command', async () => {
    const t = new ScriptedTransport(['016101', '029000']);
    await new Iso7816Channel(t).transceive({ cla: 0x0c, ins: 0xca, p1: 0, p2: 0x6e, le: 0 });
    expect(t.got[1]).toBe('0cc0000001');
  });

  it('an error status after 61xx pieces is thrown with that status', async () => {
    const t = new ScriptedTransport(['016101', '6f00']);
    await expect(new Iso7816Channel(t).transceive({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 })).rejects.toMatchObject({ sw: 0x6f00 });
  });

  it('gives up on a card that never stops answering 61xx', async () => {
    const t = new ScriptedTransport(Array.from({ length: 400 }, () => '006101'));
    await expect(new Iso7816Channel(t).transceive({ ins: 0xca, p1: 0, p2: 0x6e, le: 0 })).rejects.toBeInstanceOf(CardStatusError);
    expect(t.got.length).toBeLessThan(400);
  });

  it('resends with the Le a 6Cxx names (6C00 = 256)', async () => {
    const t = new ScriptedTransport(['6c05', '01020304059000']);
    const ch = new Iso7816Channel(t);
    expect(hex(await ch.transceive({ ins: 0xca, p1: 0, p2: 0xc4, le: 0 }))).toBe('0102030405');
    expect(t.got).toEqual(['00ca00c400', '00ca00c405']);
    const t2 = new ScriptedTransport(['6c00', '019000']);
    await new Iso7816Channel(t2).transceive({ ins: 0xca, p1: 0, p2: 0xc4, le: 4 });
    expect(t2.got).toEqual(['00ca00c404', '00ca00c400']);
  });

  it('6Cxx then 61xx: both handled in one transceive', async () => {
    const t = new ScriptedTransport(['6c02', 'aaaa6101', 'bb9000']);
    expect(hex(await new Iso7816Channel(t).transceive({ ins: 0xca, p1: 0, p2: 0x65, le: 0 }))).toBe('aaaabb');
    expect(t.got).toEqual(['00ca006500', '00ca006502', '00c0000001']);
  });

  it('a response without a status word is an error', async () => {
    await expect(new Iso7816Channel(new ScriptedTransport(['90'])).transceive({ ins: 0x88, p1: 0, p2: 0 })).rejects.toBeInstanceOf(CardStatusError);
  });
});

describe('Iso7816Channel: limits and chaining', () => {
  it('in short mode chains data over 255 bytes (CLA|10, no Le on the pieces)', async () => {
    const t = new ScriptedTransport(['9000', '9000', 'abcd9000']);
    const ch = new Iso7816Channel(t);
    const data = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    expect(hex(await ch.transceive({ ins: 0x88, p1: 0, p2: 0, data, le: 0 }))).toBe('abcd');
    expect(t.got.map((g) => g.slice(0, 10))).toEqual(['10880000ff', '10880000ff', '008800005a']);
    expect(t.got[0]).toBe('10880000ff' + hex(data.subarray(0, 255)));
    expect(t.got[1]).toBe('10880000ff' + hex(data.subarray(255, 510)));
    expect(t.got[2]).toBe('008800005a' + hex(data.subarray(510)) + '00');
  });

  it('exactly 255 bytes go in one short APDU; 256 in two', async () => {
    const t = new ScriptedTransport(['9000']);
    await new Iso7816Channel(t).transceive({ ins: 0xda, p1: 0, p2: 0x5e, data: new Uint8Array(255) });
    expect(t.got).toHaveLength(1);
    const t2 = new ScriptedTransport(['9000', '9000']);
    await new Iso7816Channel(t2).transceive({ ins: 0xda, p1: 0, p2: 0x5e, data: new Uint8Array(256) });
    expect(t2.got.map((g) => g.slice(0, 10))).toEqual(['10da005eff', '00da005e01']);
  });

  it('stops the chain at the first error and throws it', async () => {
    const t = new ScriptedTransport(['6a80']);
    await expect(new Iso7816Channel(t).transceive({ ins: 0xda, p1: 0, p2: 0x5e, data: new Uint8Array(300) })).rejects.toMatchObject({ sw: 0x6a80 });
    expect(t.got).toHaveLength(1);
  });

  it('with extended limits sends long data in one APDU and asks for maxResponse', async () => {
    const t = new ScriptedTransport(['01029000', '9000']);
    const ch = new Iso7816Channel(t);
    ch.setLimits({ extended: true, maxCommand: 0x0bfe, maxResponse: 0x0bfe });
    await ch.transceive({ ins: 0xca, p1: 0, p2: 0xc4, le: 0 });
    expect(t.got[0]).toBe('00ca00c4000bfe');
    await ch.transceive({ ins: 0x88, p1: 0, p2: 0, data: new Uint8Array(1000) });
    expect(t.got[1]!.slice(0, 14)).toBe('008800000003e8');
    expect(t.got).toHaveLength(2);
  });

  it('chains at the card maxCommand in extended mode too', async () => {
    const t = new ScriptedTransport(['9000', '9000', '9000']);
    const ch = new Iso7816Channel(t, { limits: { extended: true, maxCommand: 400, maxResponse: 65536 } });
    await ch.transceive({ ins: 0xdb, p1: 0x3f, p2: 0xff, data: new Uint8Array(1000) });
    // The last 200 bytes fit the short form, which the channel uses whenever it can.
    expect(t.got.map((g) => g.slice(0, 14))).toEqual(['10db3fff000190', '10db3fff000190', '00db3fffc80000']);
    expect(t.got.map((g) => g.length / 2)).toEqual([7 + 400, 7 + 400, 5 + 200]);
  });

  it('setLimits keeps short mode inside short bounds', () => {
    const ch = new Iso7816Channel(new ScriptedTransport([]));
    ch.setLimits({ extended: false, maxCommand: 3000, maxResponse: 3000 });
    expect(ch.getLimits()).toEqual({ extended: false, maxCommand: 255, maxResponse: 256 });
  });
});

describe('Iso7816Channel: status words', () => {
  const ch = (...sw: string[]): Iso7816Channel => new Iso7816Channel(new ScriptedTransport(sw));
  it('63Cx is PinIncorrectError with the retries left', async () => {
    await expect(ch('63c2').transceive({ ins: 0x20, p1: 0, p2: 0x82, data: ascii('1') })).rejects.toSatisfy(
      (e) => e instanceof PinIncorrectError && e.retriesLeft === 2 && e.sw === 0x63c2,
    );
  });
  it('63C0 (the try that blocked the PIN) is PinBlockedError', async () => {
    await expect(ch('63c0').transceive({ ins: 0x20, p1: 0, p2: 0x82, data: ascii('1') }, 'VERIFY 82')).rejects.toSatisfy(
      (e) => e instanceof PinBlockedError && e.retriesLeft === 0 && e.sw === 0x63c0 && /wrong PIN, now blocked/.test(e.message),
    );
  });
  it('6983 is PinBlockedError', async () => {
    await expect(ch('6983').transceive({ ins: 0x20, p1: 0, p2: 0x82, data: ascii('1') })).rejects.toBeInstanceOf(PinBlockedError);
  });
  it('other status words are CardStatusError with the sw and a meaning', async () => {
    await expect(ch('6982').transceive({ ins: 0x88, p1: 0, p2: 0 }, 'INTERNAL AUTHENTICATE')).rejects.toSatisfy(
      (e) => e instanceof CardStatusError && !(e instanceof PinIncorrectError) && e.sw === 0x6982 && /INTERNAL AUTHENTICATE.*not satisfied.*6982/.test(e.message),
    );
  });
  it('transceiveRaw hands back the status word', async () => {
    expect(await ch('63c1').transceiveRaw({ ins: 0x20, p1: 0, p2: 0x82 })).toMatchObject({ sw: 0x63c1 });
  });
});

describe('Iso7816Channel: tracer', () => {
  it('sees every APDU but never PIN bytes (VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER)', async () => {
    const seen: string[] = [];
    const t = new ScriptedTransport(['9000', '9000', '9000', '01029000']);
    const ch = new Iso7816Channel(t, { tracer: (d, b) => seen.push(`${d} ${hex(b)}`) });
    await ch.transceive({ ins: 0x20, p1: 0, p2: 0x82, data: ascii('123456') });
    await ch.transceive({ ins: 0x24, p1: 0, p2: 0x81, data: ascii('123456654321') });
    await ch.transceive({ ins: 0x2c, p1: 2, p2: 0x81, data: ascii('654321') });
    await ch.transceive({ ins: 0xca, p1: 0, p2: 0xc4, le: 0 });
    const all = seen.join(' ');
    expect(all).not.toContain(hex(ascii('123456')));
    expect(all).not.toContain(hex(ascii('654321')));
    expect(seen[0]).toBe('command 0020008206ffffffffffff');
    expect(seen[1]).toBe('response 9000');
    expect(seen[6]).toBe('command 00ca00c400');
    expect(seen[7]).toBe('response 01029000');
    // The card itself got the real PIN.
    expect(t.got[0]).toBe('0020008206' + hex(ascii('123456')));
  });

  it('blanks each chained piece of a long PIN command', async () => {
    const seen: string[] = [];
    const ch = new Iso7816Channel(new ScriptedTransport(['9000', '9000']), { tracer: (d, b) => d === 'command' && seen.push(hex(b)) });
    await ch.transceive({ ins: 0x24, p1: 0, p2: 0x81, data: new Uint8Array(300).fill(0x31) });
    expect(seen.join('')).not.toContain('31');
    expect(seen[0]!.startsWith('10240081ff')).toBe(true);
  });
});

describe('Iso7816Channel: commands in series', () => {
  const ia = (b: number) => ({ ins: 0x88, p1: 0, p2: 0, data: Uint8Array.of(b), le: 0 });

  it('sends them in one transport call, one APDU each', async () => {
    const t = new ScriptedSeriesTransport(['a19000', 'a29000', 'a39000']);
    const ch = new Iso7816Channel(t);
    const out = await ch.transceiveSeries([ia(1), ia(2), ia(3)]);
    expect(out.map((r) => [hex(r.data), r.sw])).toEqual([['a1', 0x9000], ['a2', 0x9000], ['a3', 0x9000]]);
    expect(t.calls).toEqual([3]);
    expect(t.got).toEqual(['008800000101' + '00', '008800000102' + '00', '008800000103' + '00']);
    expect(ch.apduCount).toBe(3);
  });

  it('stops at the first answer that is not 9000: the rest are not sent', async () => {
    const t = new ScriptedSeriesTransport(['a19000', '6982']);
    const ch = new Iso7816Channel(t);
    const out = await ch.transceiveSeries([ia(1), ia(2), ia(3)]);
    expect(out.map((r) => r.sw)).toEqual([0x9000, 0x6982]);
    expect(t.got).toHaveLength(2);
    expect(ch.apduCount).toBe(2);
  });

  it('61xx on the last one sent is collected with GET RESPONSE, as for a single command', async () => {
    const t = new ScriptedSeriesTransport(['a19000', 'b16101', 'b29000']);
    const out = await new Iso7816Channel(t).transceiveSeries([ia(1), ia(2), ia(3)]);
    expect(out.map((r) => hex(r.data))).toEqual(['a1', 'b1b2']);
    expect(t.got.at(-1)).toBe('00c0000001');
  });

  it('without a series in the transport, or for a command that needs chaining, goes one by one with the same stop', async () => {
    const plain = new ScriptedTransport(['a19000', '6a80']);
    const out = await new Iso7816Channel(plain).transceiveSeries([ia(1), ia(2), ia(3)]);
    expect(out.map((r) => r.sw)).toEqual([0x9000, 0x6a80]);
    expect(plain.got).toHaveLength(2);
    const chained = new ScriptedSeriesTransport(['9000', 'a19000', 'a29000']);
    const ch = new Iso7816Channel(chained, { limits: { extended: false, maxCommand: 2, maxResponse: 256 } });
    const long = { ins: 0x88, p1: 0, p2: 0, data: Uint8Array.of(1, 2, 3), le: 0 };
    expect((await ch.transceiveSeries([long, ia(2)])).map((r) => hex(r.data))).toEqual(['a1', 'a2']);
    expect(chained.calls).toEqual([]);
    expect(chained.got[0]).toBe('10880000020102');
  });
});
