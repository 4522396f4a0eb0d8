import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_EXTENSIONS } from '../../src/agent/agent.js';
import type { Constraint, KeyProvider, RequestContext } from '../../src/agent/key-provider.js';
import { unlockFailureDelay } from '../../src/agent/lock.js';
import { PinRequiredError } from '../../src/errors.js';
import { decodeQueryReply } from '../../src/protocol/extension.js';
import type { Request } from '../../src/protocol/messages.js';
import { decodeRequest } from '../../src/protocol/request.js';
import { Secret } from '../../src/secret.js';
import { formatAuthorizedKey, parseAuthorizedKey } from '../../src/ssh/authorized-keys.js';
import { sha256Fingerprint } from '../../src/ssh/fingerprint.js';
import { ecdsaSignatureFromRaw, encodeSignature } from '../../src/ssh/signature.js';
import { sshPublicKeyBlobFromKeyObject, verifySshSignature } from '../../src/ssh/verify.js';
import { loadOpenSshFrames } from '../protocol/openssh-frames.js';
import { ask, makeAgent, makeConn } from './helpers.js';

/** A software key provider: one ed25519 key, records every call. */
class FakeProvider implements KeyProvider {
  readonly keys = generateKeyPairSync('ed25519');
  readonly blob = sshPublicKeyBlobFromKeyObject(this.keys.publicKey);
  readonly calls: { method: string; args: unknown[]; ctx: RequestContext }[] = [];
  failWith: Error | undefined;

  async listIdentities(ctx: RequestContext) {
    this.calls.push({ method: 'list', args: [], ctx });
    if (this.failWith) throw this.failWith;
    return [{ keyBlob: this.blob, comment: 'cardno:000F_TEST' }];
  }
  async sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: RequestContext) {
    this.calls.push({ method: 'sign', args: [keyBlob, data, flags], ctx });
    if (this.failWith) throw this.failWith;
    if (!Buffer.from(keyBlob).equals(Buffer.from(this.blob))) return null;
    return encodeSignature({ algorithm: 'ssh-ed25519', signature: sign(null, data, this.keys.privateKey) });
  }
  async addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], ctx: RequestContext) {
    this.calls.push({ method: 'add', args: [readerId, pin.revealString(), constraints], ctx });
    if (this.failWith) throw this.failWith;
  }
  async removeSmartcardKey(readerId: string, pin: Secret, ctx: RequestContext) {
    this.calls.push({ method: 'remove', args: [readerId, pin.revealString()], ctx });
  }
}

/** A host key and a session-bind request signed by it, as ssh would send. */
function hostBind(
  kind: 'ed25519' | 'p256' | 'p384' | 'rsa',
  forwarding = false,
  sessionId: Uint8Array = new Uint8Array(randomBytes(32)),
) {
  let publicKey: KeyObject;
  let signature: Uint8Array;
  if (kind === 'ed25519') {
    const k = generateKeyPairSync('ed25519');
    publicKey = k.publicKey;
    signature = encodeSignature({ algorithm: 'ssh-ed25519', signature: sign(null, sessionId, k.privateKey) });
  } else if (kind === 'rsa') {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    publicKey = k.publicKey;
    signature = encodeSignature({ algorithm: 'rsa-sha2-512', signature: sign('sha512', sessionId, k.privateKey) });
  } else {
    const curve = kind === 'p256' ? 'P-256' : 'P-384';
    const k = generateKeyPairSync('ec', { namedCurve: curve });
    publicKey = k.publicKey;
    const raw = sign(kind === 'p256' ? 'sha256' : 'sha384', sessionId, { key: k.privateKey, dsaEncoding: 'ieee-p1363' });
    signature = ecdsaSignatureFromRaw(kind === 'p256' ? 'ecdsa-sha2-nistp256' : 'ecdsa-sha2-nistp384', raw);
  }
  const hostKey = sshPublicKeyBlobFromKeyObject(publicKey);
  const req: Request = {
    type: 'extension',
    extension: { kind: 'session-bind', hostKey, sessionId, signature, forwarding },
  };
  return { hostKey, sessionId, signature, req };
}

describe('Agent: identities and signing', () => {
  it('without a provider lists nothing and fails card requests', async () => {
    const { agent } = makeAgent();
    const conn = makeConn();
    expect(await ask(agent, conn, { type: 'request-identities' })).toEqual({ type: 'identities-answer', identities: [] });
    expect(await ask(agent, conn, { type: 'add-smartcard-key', readerId: 'r', pin: new Secret('1') })).toEqual({
      type: 'failure',
    });
    expect(await ask(agent, conn, { type: 'sign-request', keyBlob: new Uint8Array(4), data: new Uint8Array(1), flags: 0 })).toEqual({
      type: 'failure',
    });
  });

  it('lists the provider identities and returns a signature that verifies', async () => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    const conn = makeConn();
    const list = await ask(agent, conn, { type: 'request-identities' });
    expect(list).toEqual({ type: 'identities-answer', identities: [{ keyBlob: keys.blob, comment: 'cardno:000F_TEST' }] });
    const data = randomBytes(40);
    const resp = await ask(agent, conn, { type: 'sign-request', keyBlob: keys.blob, data, flags: 2 });
    if (resp.type !== 'sign-response') throw new Error(resp.type);
    expect(verifySshSignature(keys.blob, data, resp.signature)).toBe(true);
    const call = keys.calls.find((c) => c.method === 'sign')!;
    expect(call.args[2]).toBe(2);
    expect(call.ctx.conn).toBe(conn);
  });

  it('answers FAILURE when the provider does not hold the key', async () => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    const other = sshPublicKeyBlobFromKeyObject(generateKeyPairSync('ed25519').publicKey);
    expect(await ask(agent, makeConn(), { type: 'sign-request', keyBlob: other, data: randomBytes(8), flags: 0 })).toEqual({
      type: 'failure',
    });
  });

  it('turns provider errors into FAILURE and one log line with the error code', async () => {
    const keys = new FakeProvider();
    keys.failWith = new PinRequiredError('no PIN stored for card 000F_TEST');
    const { agent, logs } = makeAgent({ keys });
    const conn = makeConn();
    expect(await ask(agent, conn, { type: 'sign-request', keyBlob: keys.blob, data: randomBytes(8), flags: 0 })).toEqual({
      type: 'failure',
    });
    const failures = logs.filter((l) => l.code !== undefined);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'E_PIN_REQUIRED', conn: conn.id, req: 'sign-request' });
    expect(failures[0]!.msg).toContain('no PIN stored');

    keys.failWith = new TypeError('bug in provider');
    expect(await ask(agent, conn, { type: 'request-identities' })).toEqual({ type: 'failure' });
    expect(logs.filter((l) => l.code === 'E_INTERNAL')).toHaveLength(1);
  });

  it('passes smartcard reader, PIN and constraints to the provider', async () => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    const conn = makeConn();
    const constraints: Constraint[] = [{ kind: 'lifetime', seconds: 60 }, { kind: 'confirm' }];
    expect(
      await ask(agent, conn, { type: 'add-smartcard-key-constrained', readerId: 'Yubikey 0', pin: new Secret('123456'), constraints }),
    ).toEqual({ type: 'success' });
    expect(await ask(agent, conn, { type: 'remove-smartcard-key', readerId: 'Yubikey 0', pin: new Secret('') })).toEqual({
      type: 'success',
    });
    expect(keys.calls.filter((c) => c.method !== 'list').map((c) => [c.method, ...c.args])).toEqual([
      ['add', 'Yubikey 0', '123456', constraints],
      ['remove', 'Yubikey 0', ''],
    ]);
  });

  it('refuses software keys with a log line, and remove-all without provider support', async () => {
    const { agent, logs } = makeAgent({ keys: new FakeProvider() });
    const add = loadOpenSshFrames().find((f) => f.command === 'ssh-add id_ed25519' && f.dir === 'request')!;
    expect(await ask(agent, makeConn(), add.body)).toEqual({ type: 'failure' });
    expect(logs.some((l) => l.msg.includes('this agent serves only card keys'))).toBe(true);
    expect(await ask(agent, makeConn(), { type: 'remove-all-identities' })).toEqual({ type: 'failure' });
  });

  it('calls removeAllIdentities when the provider has it', async () => {
    const keys = new FakeProvider();
    let removed = 0;
    const withRemoveAll: KeyProvider = Object.assign(keys, { removeAllIdentities: async () => void removed++ });
    const { agent } = makeAgent({ keys: withRemoveAll });
    expect(await ask(agent, makeConn(), { type: 'remove-all-identities' })).toEqual({ type: 'success' });
    expect(removed).toBe(1);
  });

  it('answers FAILURE to unknown messages, malformed bodies and an empty frame', async () => {
    const { agent, logs } = makeAgent();
    const conn = makeConn();
    expect(await ask(agent, conn, Uint8Array.of(200, 1, 2))).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, Uint8Array.of(13, 0, 0, 0, 9))).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, new Uint8Array(0))).toEqual({ type: 'failure' });
    expect(logs.filter((l) => l.code === 'E_WIRE_FORMAT')).toHaveLength(2);
  });

  it('logs each request at debug with the connection id', async () => {
    const { agent, logs } = makeAgent();
    const conn = makeConn();
    await ask(agent, conn, { type: 'request-identities' });
    expect(logs).toContainEqual(expect.objectContaining({ level: 20, conn: conn.id, req: 'request-identities' }));
  });
});

describe('Agent: lock and unlock', () => {
  it('locks, hides identities, refuses signing and adding, and unlocks only with the same passphrase', async () => {
    const keys = new FakeProvider();
    const { agent, logs } = makeAgent({ keys });
    const conn = makeConn();
    expect(await ask(agent, conn, { type: 'lock', passphrase: new Secret('correct horse') })).toEqual({ type: 'success' });
    expect(agent.locked).toBe(true);
    expect(await ask(agent, conn, { type: 'lock', passphrase: new Secret('correct horse') })).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, { type: 'request-identities' })).toEqual({ type: 'identities-answer', identities: [] });
    expect(await ask(agent, conn, { type: 'sign-request', keyBlob: keys.blob, data: randomBytes(8), flags: 0 })).toEqual({
      type: 'failure',
    });
    expect(await ask(agent, conn, { type: 'add-smartcard-key', readerId: 'r', pin: new Secret('1') })).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, { type: 'extension', extension: { kind: 'query' } })).toEqual({ type: 'failure' });
    expect(keys.calls).toEqual([]);

    expect(await ask(agent, conn, { type: 'unlock', passphrase: new Secret('correct horse!') })).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, { type: 'unlock', passphrase: new Secret('') })).toEqual({ type: 'failure' });
    expect(agent.locked).toBe(true);
    const wrong = logs.filter((l) => l.msg === 'wrong passphrase for unlock');
    expect(wrong.map((l) => l['failures'])).toEqual([1, 2]);
    expect(JSON.stringify(logs)).not.toContain('correct horse');

    expect(await ask(agent, conn, { type: 'unlock', passphrase: new Secret('correct horse') })).toEqual({ type: 'success' });
    expect(agent.locked).toBe(false);
    expect(await ask(agent, conn, { type: 'request-identities' })).toMatchObject({ identities: [{ comment: 'cardno:000F_TEST' }] });
    expect(await ask(agent, conn, { type: 'unlock', passphrase: new Secret('correct horse') })).toEqual({ type: 'failure' });
  });

  it('accepts the lock and unlock ssh-add -x / -X sent', async () => {
    const { agent } = makeAgent();
    const conn = makeConn();
    const frames = loadOpenSshFrames().filter((f) => f.dir === 'request');
    const lock = frames.find((f) => f.command === 'ssh-add -x')!;
    const unlock = frames.find((f) => f.command === 'ssh-add -X')!;
    expect(await ask(agent, conn, lock.body)).toEqual({ type: 'success' });
    expect(await ask(agent, conn, unlock.body)).toEqual({ type: 'success' });
  });

  it('grows the wrong-unlock delay linearly and caps it like OpenSSH', () => {
    expect([1, 2, 3].map((n) => unlockFailureDelay(n, 100))).toEqual([100, 200, 300]);
    expect(unlockFailureDelay(100, 100)).toBe(10_000);
    expect(unlockFailureDelay(5000, 100)).toBe(10_000);
  });
});

describe('Agent: extensions', () => {
  it('answers query with EXTENSION_RESPONSE "query" and the extension list', async () => {
    const { agent } = makeAgent();
    const resp = await ask(agent, makeConn(), { type: 'extension', extension: { kind: 'query' } });
    expect(resp).toMatchObject({ type: 'extension-response', name: 'query' });
    expect(decodeQueryReply(resp)).toEqual(['query', 'session-bind@openssh.com']);
    expect(SUPPORTED_EXTENSIONS).toEqual(['query', 'session-bind@openssh.com']);
  });

  it('answers an unknown extension with plain FAILURE', async () => {
    const { agent } = makeAgent();
    expect(
      await ask(agent, makeConn(), { type: 'extension', extension: { kind: 'other', name: 'foo@example.com', contents: new Uint8Array(3) } }),
    ).toEqual({ type: 'failure' });
  });

  it.each(['ed25519', 'p256', 'p384', 'rsa'] as const)('binds a session signed by a %s host key', async (kind) => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    const conn = makeConn();
    const bind = hostBind(kind);
    expect(await ask(agent, conn, bind.req)).toEqual({ type: 'success' });
    await ask(agent, conn, { type: 'request-identities' });
    expect(keys.calls[0]!.ctx.sessions).toEqual([
      { hostKey: bind.hostKey, hostKeyFingerprint: sha256Fingerprint(bind.hostKey), forwarding: false, sessionId: bind.sessionId },
    ]);
    // Another connection sees nothing of it.
    expect(keys.calls[0]!.ctx.session).toEqual(keys.calls[0]!.ctx.sessions[0]);
    await ask(agent, makeConn(), { type: 'request-identities' });
    expect(keys.calls[1]!.ctx.sessions).toEqual([]);
    expect(keys.calls[1]!.ctx).not.toHaveProperty('session');
  });

  it('accepts the session-binds real OpenSSH sent (sshd host-key signatures over the exchange hash)', async () => {
    const binds = loadOpenSshFrames().filter(
      (f) => f.dir === 'request' && f.body[0] === 27 && decodeRequest(f.body).type === 'extension',
    );
    expect(binds.length).toBeGreaterThanOrEqual(5);
    for (const f of binds) {
      const { agent } = makeAgent();
      expect(await ask(agent, makeConn(), f.body), f.command).toEqual({ type: 'success' });
    }
  });

  it('refuses a bad host-key signature with a log line', async () => {
    const { agent, logs } = makeAgent();
    const conn = makeConn();
    const bind = hostBind('ed25519');
    const other = hostBind('ed25519');
    const forged: Request = {
      type: 'extension',
      extension: { kind: 'session-bind', hostKey: bind.hostKey, sessionId: bind.sessionId, signature: other.signature, forwarding: false },
    };
    expect(await ask(agent, conn, forged)).toEqual({ type: 'failure' });
    expect(logs.filter((l) => l.code === 'E_SESSION_BIND')).toHaveLength(1);
  });

  it('follows OpenSSH rules for repeated binds on one connection', async () => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    // Forwarding binds accumulate; the same (session, key) again is a no-op.
    const conn = makeConn();
    const a = hostBind('ed25519', true);
    const b = hostBind('p256', true);
    expect(await ask(agent, conn, a.req)).toEqual({ type: 'success' });
    expect(await ask(agent, conn, b.req)).toEqual({ type: 'success' });
    expect(await ask(agent, conn, a.req)).toEqual({ type: 'success' });
    // The same session id under a different host key is refused.
    const c = hostBind('ed25519', true, a.sessionId);
    expect(await ask(agent, conn, c.req)).toEqual({ type: 'failure' });
    await ask(agent, conn, { type: 'request-identities' });
    expect(keys.calls[0]!.ctx.sessions.map((s) => s.forwarding)).toEqual([true, true]);
    // The provider's `session` is the latest hop.
    expect(keys.calls[0]!.ctx.session?.hostKey).toEqual(b.hostKey);

    // A connection bound for authentication takes no further binding.
    const auth = makeConn();
    expect(await ask(agent, auth, hostBind('ed25519', false).req)).toEqual({ type: 'success' });
    expect(await ask(agent, auth, hostBind('ed25519', true).req)).toEqual({ type: 'failure' });
  });

  it('forgets a connection’s bindings when it closes', async () => {
    const keys = new FakeProvider();
    const { agent } = makeAgent({ keys });
    const conn = makeConn();
    expect(await ask(agent, conn, hostBind('ed25519').req)).toEqual({ type: 'success' });
    agent.connectionClosed(conn);
    await ask(agent, conn, { type: 'request-identities' });
    expect(keys.calls[0]!.ctx.sessions).toEqual([]);
  });

  it('takes 16 bindings on one connection and then none, not even a repeat (as ssh-agent.c)', async () => {
    const { agent } = makeAgent();
    const conn = makeConn();
    const binds = Array.from({ length: 16 }, () => hostBind('ed25519', true));
    for (const bind of binds) expect(await ask(agent, conn, bind.req)).toEqual({ type: 'success' });
    expect(await ask(agent, conn, hostBind('ed25519', true).req)).toEqual({ type: 'failure' });
    expect(await ask(agent, conn, binds[0]!.req)).toEqual({ type: 'failure' });
    // Another connection is not affected.
    expect(await ask(agent, makeConn(), binds[0]!.req)).toEqual({ type: 'success' });
  });

  it('refuses a session id longer than 128 bytes', async () => {
    const { agent } = makeAgent();
    expect(await ask(agent, makeConn(), hostBind('ed25519', false, randomBytes(129)).req)).toEqual({ type: 'failure' });
  });
});

describe('Agent: session-bind with a host certificate', () => {
  const SSH_KEYGEN = '/usr/bin/ssh-keygen';
  const hasKeygen = existsSync(SSH_KEYGEN);
  if (!hasKeygen && process.env['CI'] === 'true') throw new Error(`${SSH_KEYGEN} is required in CI`);

  /** A host key made here, certified by a CA that ssh-keygen makes and signs with (ssh-keygen -s -h). */
  function certifiedHostKey(dir: string, kind: 'ed25519' | 'p256' | 'rsa') {
    const pair =
      kind === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : kind === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const plain = sshPublicKeyBlobFromKeyObject(pair.publicKey);
    const pub = join(dir, `host-${kind}.pub`);
    writeFileSync(pub, formatAuthorizedKey(plain, 'host') + '\n');
    execFileSync(SSH_KEYGEN, ['-q', '-s', join(dir, 'ca'), '-I', 'host', '-h', '-n', 'localhost', pub]);
    const cert = parseAuthorizedKey(readFileSync(join(dir, `host-${kind}-cert.pub`), 'utf8'));
    const sessionId = new Uint8Array(randomBytes(64));
    const signature =
      kind === 'ed25519'
        ? encodeSignature({ algorithm: 'ssh-ed25519', signature: sign(null, sessionId, pair.privateKey) })
        : kind === 'rsa'
          ? encodeSignature({ algorithm: 'rsa-sha2-512', signature: sign('sha512', sessionId, pair.privateKey) })
          : ecdsaSignatureFromRaw(
              'ecdsa-sha2-nistp256',
              sign('sha256', sessionId, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }),
            );
    return { plain, cert, sessionId, signature };
  }

  it.skipIf(!hasKeygen).each(['ed25519', 'p256', 'rsa'] as const)(
    'accepts a bind whose host key is a %s certificate, fingerprinted by the certified key',
    async (kind) => {
      const dir = mkdtempSync(join(tmpdir(), 'hostcert-'));
      try {
        execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
        const h = certifiedHostKey(dir, kind);
        expect(h.cert.keyType).toMatch(/-cert-v01@openssh\.com$/);
        expect(verifySshSignature(h.cert.keyBlob, h.sessionId, h.signature)).toBe(true);
        expect(verifySshSignature(h.cert.keyBlob, randomBytes(64), h.signature)).toBe(false);

        const keys = new FakeProvider();
        const { agent } = makeAgent({ keys });
        const conn = makeConn();
        const bind: Request = {
          type: 'extension',
          extension: { kind: 'session-bind', hostKey: h.cert.keyBlob, sessionId: h.sessionId, signature: h.signature, forwarding: false },
        };
        expect(await ask(agent, conn, bind)).toEqual({ type: 'success' });
        await ask(agent, conn, { type: 'request-identities' });
        expect(keys.calls[0]!.ctx.session).toEqual({
          hostKey: h.cert.keyBlob,
          hostKeyFingerprint: sha256Fingerprint(h.plain),
          forwarding: false,
          sessionId: h.sessionId,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
