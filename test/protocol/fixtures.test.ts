import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../src/errors.js';
import type { Request, Response } from '../../src/protocol/messages.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse, encodeResponse } from '../../src/protocol/response.js';
import { framesOf, loadOpenSshFrames } from './openssh-frames.js';

const frames = loadOpenSshFrames();

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}

const req = (command: string, type: Request['type']): Request => {
  const r = only(framesOf(command, 'request').map((f) => decodeRequest(f.body)).filter((m) => m.type === type));
  return r;
};

describe('OpenSSH 9.2p1 recorded frames', () => {
  it.each(frames.map((f, i) => [i, f.command, f.dir, f] as const))(
    'frame %i (%s, %s) round-trips byte-identically',
    (_i, _c, dir, f) => {
      const again = dir === 'request' ? encodeRequest(decodeRequest(f.body)) : encodeResponse(decodeResponse(f.body));
      expect(Buffer.from(again).toString('hex')).toBe(Buffer.from(f.body).toString('hex'));
    },
  );

  it('decodes each ADD_IDENTITY with the right key type and comment', () => {
    const expected = [
      ['ssh-add id_ed25519', 'ssh-ed25519', 'fixture-ed25519'],
      ['ssh-add id_ecdsa', 'ecdsa-sha2-nistp256', 'fixture-ecdsa256'],
      ['ssh-add id_ecdsa384', 'ecdsa-sha2-nistp384', 'fixture-ecdsa384'],
      ['ssh-add id_ecdsa521', 'ecdsa-sha2-nistp521', 'fixture-ecdsa521'],
      ['ssh-add id_rsa', 'ssh-rsa', 'fixture-rsa2048'],
    ] as const;
    for (const [command, keyType, comment] of expected) {
      const m = req(command, 'add-identity');
      if (m.type !== 'add-identity' || !('comment' in m)) throw new Error('not a known-key ADD_IDENTITY');
      expect(m.key.keyType).toBe(keyType);
      expect(m.comment).toBe(comment);
      if (m.key.keyType === 'ssh-ed25519') {
        expect(m.key.publicKey).toHaveLength(32);
        expect(m.key.privateKey).toHaveLength(64);
        expect(m.key.privateKey.subarray(32)).toEqual(m.key.publicKey);
      }
    }
  });

  it('decodes the identities answer of ssh-add -l with five keys', () => {
    const resp = decodeResponse(only(framesOf('ssh-add -l', 'response')).body);
    if (resp.type !== 'identities-answer') throw new Error(resp.type);
    expect(resp.identities.map((i) => i.comment)).toEqual([
      'fixture-ed25519',
      'fixture-ecdsa256',
      'fixture-ecdsa384',
      'fixture-ecdsa521',
      'fixture-rsa2048',
    ]);
  });

  it('decodes SIGN_REQUEST flags: RSA asks for rsa-sha2-512, others for nothing', () => {
    const rsa = req('ssh-keygen -Y sign id_rsa.pub', 'sign-request');
    const ed = req('ssh-keygen -Y sign id_ed25519.pub', 'sign-request');
    expect(rsa.type === 'sign-request' && rsa.flags).toBe(4);
    expect(ed.type === 'sign-request' && ed.flags).toBe(0);
  });

  it('decodes session-bind with the forwarding flag', () => {
    const binds = framesOf('ssh -A forwarded ssh-add -l', 'request')
      .map((f) => decodeRequest(f.body))
      .flatMap((m) => (m.type === 'extension' && m.extension.kind === 'session-bind' ? [m.extension] : []));
    expect(binds.map((b) => b.forwarding)).toEqual([false, true]);
    // The default KEX of OpenSSH 9.2 (sntrup761x25519-sha512) makes a SHA-512 exchange hash.
    expect(binds[0]!.sessionId).toHaveLength(64);
  });

  it('decodes LOCK/UNLOCK passphrases and smartcard PINs as Secrets', () => {
    const lock = req('ssh-add -x', 'lock');
    const unlock = req('ssh-add -X', 'unlock');
    expect(lock.type === 'lock' && lock.passphrase.revealString()).toBe('fixture-passphrase');
    expect(unlock.type === 'unlock' && unlock.passphrase.revealString()).toBe('fixture-passphrase');
    expect(JSON.stringify(lock)).not.toContain('fixture-passphrase');
    const add = req('ssh-add -s', 'add-smartcard-key');
    if (add.type !== 'add-smartcard-key') throw new Error(add.type);
    expect(add.readerId).toBe('/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so');
    expect(add.pin.revealString()).toBe('fixture-passphrase');
    const addC = req('ssh-add -s -t 60 -c', 'add-smartcard-key-constrained');
    if (addC.type !== 'add-smartcard-key-constrained') throw new Error(addC.type);
    expect(addC.constraints).toEqual([{ kind: 'lifetime', seconds: 60 }, { kind: 'confirm' }]);
    const rm = req('ssh-add -e', 'remove-smartcard-key');
    expect(rm.type === 'remove-smartcard-key' && rm.readerId).toBe('/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so');
  });

  it('decodes ADD_ID_CONSTRAINED constraints and the protocol-1 message of ssh-add -D as unknown', () => {
    const m = req('ssh-add -c -t 60 id_ed25519', 'add-id-constrained');
    expect(m.type === 'add-id-constrained' && m.constraints).toEqual([{ kind: 'lifetime', seconds: 60 }, { kind: 'confirm' }]);
    const d = framesOf('ssh-add -D', 'request').map((f) => decodeRequest(f.body));
    expect(d.map((x) => x.type)).toEqual(['remove-all-identities', 'unknown']);
    expect(d[1]).toEqual({ type: 'unknown', code: 9, body: new Uint8Array(0) });
  });

  it('decodes every recorded reply as an answer to the request before it', () => {
    const lastRequest = new Map<number, Request['type']>();
    let checked = 0;
    for (const f of frames) {
      if (f.dir === 'request') {
        lastRequest.set(f.conn, decodeRequest(f.body).type);
        continue;
      }
      const forType = lastRequest.get(f.conn);
      expect(forType, `reply on conn ${f.conn} without a request`).toBeDefined();
      const resp = decodeResponse(f.body, forType);
      expect(encodeResponse(resp)).toEqual(f.body);
      if (forType === 'sign-request') expect(['sign-response', 'failure']).toContain(resp.type);
      if (forType === 'request-identities') expect(resp.type).toBe('identities-answer');
      checked++;
    }
    expect(checked).toBe(frames.filter((f) => f.dir === 'response').length);
  });

  it('throws only WireFormatError for every truncation of every frame', () => {
    let thrown = 0;
    for (const f of frames) {
      for (let n = 0; n < f.body.length; n++) {
        const cut = f.body.subarray(0, n);
        let result: Request | Response | undefined;
        try {
          result = f.dir === 'request' ? decodeRequest(cut) : decodeResponse(cut);
        } catch (err) {
          expect(err).toBeInstanceOf(WireFormatError);
          thrown++;
          continue;
        }
        // A few prefixes are themselves valid (an extension's raw tail, SUCCESS's contents).
        expect(result).toBeDefined();
      }
    }
    expect(thrown).toBeGreaterThan(1000);
  });
});
