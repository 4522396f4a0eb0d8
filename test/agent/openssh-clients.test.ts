import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import type { Constraint, Identity, KeyProvider, RequestContext } from '../../src/agent/key-provider.js';
import type { Secret } from '../../src/secret.js';
import type { ConnectionContext } from '../../src/server/frame-handler.js';
import { formatAuthorizedKey } from '../../src/ssh/authorized-keys.js';
import { sha256Fingerprint } from '../../src/ssh/fingerprint.js';
import { ecdsaSignatureFromDer, encodeSignature, rsaAlgorithmForFlags } from '../../src/ssh/signature.js';
import { sshPublicKeyBlobFromKeyObject } from '../../src/ssh/verify.js';

/**
 * The Agent behind a throwaway unix socket, driven by the real OpenSSH clients: ssh-add for
 * listing, lock/unlock and -s/-e, ssh-keygen -Y sign for signatures that ssh-keygen -Y verify
 * then checks. The KeyProvider is a software stand-in for the card.
 */

const SSH_ADD = '/usr/bin/ssh-add';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const missing = [SSH_ADD, SSH_KEYGEN].find((p) => !existsSync(p));

interface SoftKey {
  name: string;
  privateKey: KeyObject;
  blob: Uint8Array;
  signRaw: (data: Uint8Array, flags: number) => Uint8Array;
}

function softKeys(): SoftKey[] {
  const ed = generateKeyPairSync('ed25519');
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const mk = (name: string, k: { publicKey: KeyObject; privateKey: KeyObject }, signRaw: SoftKey['signRaw']): SoftKey => ({
    name,
    privateKey: k.privateKey,
    blob: sshPublicKeyBlobFromKeyObject(k.publicKey),
    signRaw,
  });
  return [
    mk('ed25519', ed, (d) => encodeSignature({ algorithm: 'ssh-ed25519', signature: sign(null, d, ed.privateKey) })),
    mk('p256', p256, (d) => ecdsaSignatureFromDer('ecdsa-sha2-nistp256', sign('sha256', d, p256.privateKey))),
    mk('p384', p384, (d) => ecdsaSignatureFromDer('ecdsa-sha2-nistp384', sign('sha384', d, p384.privateKey))),
    mk('p521', p521, (d) => ecdsaSignatureFromDer('ecdsa-sha2-nistp521', sign('sha512', d, p521.privateKey))),
    mk('rsa', rsa, (d, flags) => {
      const algorithm = rsaAlgorithmForFlags(flags);
      const hash = algorithm === 'rsa-sha2-512' ? 'sha512' : algorithm === 'rsa-sha2-256' ? 'sha256' : 'sha1';
      return encodeSignature({ algorithm, signature: sign(hash, d, rsa.privateKey) });
    }),
  ];
}

class SoftProvider implements KeyProvider {
  readonly keys = softKeys();
  readonly calls: { method: string; readerId?: string; pin?: string; constraints?: readonly Constraint[]; flags?: number }[] = [];

  async listIdentities(_ctx: RequestContext): Promise<Identity[]> {
    return this.keys.map((k) => ({ keyBlob: k.blob, comment: `soft-${k.name}` }));
  }
  async sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, _ctx: RequestContext): Promise<Uint8Array | null> {
    const key = this.keys.find((k) => Buffer.from(k.blob).equals(Buffer.from(keyBlob)));
    this.calls.push({ method: 'sign', flags });
    return key === undefined ? null : key.signRaw(data, flags);
  }
  async addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], _ctx: RequestContext): Promise<void> {
    this.calls.push({ method: 'add', readerId, pin: pin.revealString(), constraints });
  }
  async removeSmartcardKey(readerId: string, pin: Secret, _ctx: RequestContext): Promise<void> {
    this.calls.push({ method: 'remove', readerId, pin: pin.revealString() });
  }
}

/** uint32-length framing over a unix socket, one request at a time per connection. */
function serve(agent: Agent, path: string): Promise<Server> {
  let nextId = 1;
  const server = createServer((sock) => {
    const conn: ConnectionContext = { id: nextId++, log: pino({ level: 'silent' }) };
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const body = new Uint8Array(buf.subarray(4, 4 + buf.readUInt32BE(0)));
        buf = buf.subarray(4 + body.length);
        chain = chain.then(async () => {
          const reply = await agent.handleFrame(body, conn);
          if (reply === null) return void sock.destroy();
          const len = Buffer.alloc(4);
          len.writeUInt32BE(reply.length);
          sock.write(Buffer.concat([len, reply]));
        });
      }
    });
    sock.on('close', () => agent.connectionClosed(conn));
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: { PATH: '/usr/bin:/bin', ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

(missing === undefined ? describe : describe.skip)(
  `Agent driven by real OpenSSH clients${missing === undefined ? '' : ` (skipped: ${missing} missing)`}`,
  () => {
    let dir: string;
    let server: Server;
    let provider: SoftProvider;
    let agent: Agent;
    let env: Record<string, string>;

    async function askpass(name: string, text: string): Promise<Record<string, string>> {
      const path = join(dir, name);
      await writeFile(path, `#!/bin/sh\nprintf '%s\\n' '${text}'\n`);
      await chmod(path, 0o700);
      return { ...env, SSH_ASKPASS: path, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    }

    beforeAll(async () => {
      if (missing !== undefined && process.env['CI'] === 'true') throw new Error(`${missing} is required in CI`);
      dir = await mkdtemp(join(tmpdir(), 'agent-openssh-'));
      provider = new SoftProvider();
      agent = new Agent({ keys: provider, log: pino({ level: 'silent' }), unlockDelayMs: 0 });
      server = await serve(agent, join(dir, 'agent.sock'));
      env = { SSH_AUTH_SOCK: join(dir, 'agent.sock'), HOME: dir };
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    });

    it('ssh-add -l prints our fingerprints and comments', async () => {
      const r = await run(SSH_ADD, ['-l'], env);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines.map((l) => l.split(' ')[1])).toEqual(provider.keys.map((k) => sha256Fingerprint(k.blob)));
      expect(lines.map((l) => l.split(' ')[2])).toEqual(provider.keys.map((k) => `soft-${k.name}`));
    });

    it('ssh-add -L prints our authorized_keys lines', async () => {
      const r = await run(SSH_ADD, ['-L'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(provider.keys.map((k) => formatAuthorizedKey(k.blob, `soft-${k.name}`) + '\n').join(''));
    });

    it('ssh-keygen -Y sign through the agent makes signatures ssh-keygen -Y verify accepts, for every key type', async () => {
      const data = 'signed through the agent\n';
      await writeFile(join(dir, 'data'), data);
      const signers = provider.keys.map((k) => `${k.name}@test ${formatAuthorizedKey(k.blob)}`).join('\n') + '\n';
      await writeFile(join(dir, 'allowed_signers'), signers);
      for (const k of provider.keys) {
        const pub = join(dir, `${k.name}.pub`);
        await writeFile(pub, formatAuthorizedKey(k.blob, k.name) + '\n');
        const s = await run(SSH_KEYGEN, ['-Y', 'sign', '-f', pub, '-n', 'file', join(dir, 'data')], env);
        expect(s.code, `${k.name}: ${s.stderr}`).toBe(0);
        const v = await run(
          SSH_KEYGEN,
          ['-Y', 'verify', '-f', join(dir, 'allowed_signers'), '-I', `${k.name}@test`, '-n', 'file', '-s', join(dir, 'data.sig')],
          env,
          data,
        );
        expect(v.code, `${k.name}: ${v.stderr}`).toBe(0);
        expect(v.stdout).toContain(`Good "file" signature for ${k.name}@test`);
        await rm(join(dir, 'data.sig'));
      }
      // ssh-keygen asks for rsa-sha2-512 for RSA keys, nothing for the others.
      expect(provider.calls.filter((c) => c.method === 'sign').map((c) => c.flags)).toEqual([0, 0, 0, 0, 4]);
      // The signature file really names the key: verifying as another principal fails.
      const s = await run(SSH_KEYGEN, ['-Y', 'sign', '-f', join(dir, 'ed25519.pub'), '-n', 'file', join(dir, 'data')], env);
      expect(s.code).toBe(0);
      const wrong = await run(
        SSH_KEYGEN,
        ['-Y', 'verify', '-f', join(dir, 'allowed_signers'), '-I', 'p256@test', '-n', 'file', '-s', join(dir, 'data.sig')],
        env,
        data,
      );
      expect(wrong.code).not.toBe(0);
      expect((await readFile(join(dir, 'data.sig'), 'utf8')).startsWith('-----BEGIN SSH SIGNATURE-----')).toBe(true);
      await rm(join(dir, 'data.sig'));
    });

    it('ssh-add -x / -X: locked agents list nothing and sign nothing; only the right passphrase unlocks', async () => {
      const right = await askpass('right.sh', 'correct horse');
      const wrong = await askpass('wrong.sh', 'battery staple');
      expect((await run(SSH_ADD, ['-x'], right)).stderr).toContain('Agent locked.');
      expect(agent.locked).toBe(true);
      expect((await run(SSH_ADD, ['-x'], right)).stderr).toContain('Failed to lock agent');
      const list = await run(SSH_ADD, ['-l'], env);
      expect(list.stdout).toBe('The agent has no identities.\n');
      const s = await run(SSH_KEYGEN, ['-Y', 'sign', '-f', join(dir, 'ed25519.pub'), '-n', 'file', join(dir, 'data')], env);
      expect(s.code).not.toBe(0);
      expect((await run(SSH_ADD, ['-X'], wrong)).stderr).toContain('Failed to unlock agent');
      expect(agent.locked).toBe(true);
      expect((await run(SSH_ADD, ['-X'], right)).stderr).toContain('Agent unlocked.');
      expect(agent.locked).toBe(false);
      expect((await run(SSH_ADD, ['-l'], env)).stdout.trim().split('\n')).toHaveLength(provider.keys.length);
    });

    it('ssh-add -s / -s -t -c / -e hand the reader, PIN and constraints to the provider', async () => {
      const pin = await askpass('pin.sh', '123456');
      const reader = 'Yubico YubiKey OTP FIDO CCID 00 00';
      const before = provider.calls.length;
      const add = await run(SSH_ADD, ['-s', reader], pin);
      expect(add.stderr).toContain(`Card added: ${reader}`);
      const addC = await run(SSH_ADD, ['-c', '-t', '90', '-s', reader], pin);
      expect(addC.stderr).toContain(`Card added: ${reader}`);
      const remove = await run(SSH_ADD, ['-e', reader], env);
      expect(remove.stderr).toContain(`Card removed: ${reader}`);
      expect(provider.calls.slice(before)).toEqual([
        { method: 'add', readerId: reader, pin: '123456', constraints: [] },
        { method: 'add', readerId: reader, pin: '123456', constraints: [{ kind: 'lifetime', seconds: 90 }, { kind: 'confirm' }] },
        { method: 'remove', readerId: reader, pin: '' },
      ]);
    });

    it('ssh-add of a file key is refused: this agent serves only card keys', async () => {
      const path = join(dir, 'id_soft');
      expect((await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'soft', '-f', path], env)).code).toBe(0);
      const r = await run(SSH_ADD, [path], env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`Could not add identity "${path}": agent refused operation`);
      const c = await run(SSH_ADD, ['-c', '-t', '60', path], env);
      expect(c.stderr).toContain(`Could not add identity "${path}": agent refused operation`);
    });
  },
);
