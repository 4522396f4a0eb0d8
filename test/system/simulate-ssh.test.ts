import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { SSH, SSHD, SSH_ADD, SSH_KEYGEN, Sshd, describeWithTools, sshLogin } from './harness/sshd.js';

const { Client, Server, utils } = ssh2;

/** The six key types a real OpenPGP card offers for SSH. */
const ALGORITHMS = [
  { algo: 'ed25519', keyType: 'ssh-ed25519' },
  { algo: 'p256', keyType: 'ecdsa-sha2-nistp256' },
  { algo: 'p384', keyType: 'ecdsa-sha2-nistp384' },
  { algo: 'p521', keyType: 'ecdsa-sha2-nistp521' },
  { algo: 'rsa2048', keyType: 'ssh-rsa' },
  { algo: 'rsa4096', keyType: 'ssh-rsa' },
] as const;

/** ssh2 client → ssh2 server on 127.0.0.1, authenticating with the agent's key; resolves true on success. */
async function ssh2Login(agentSocket: string, authorizedLine: string): Promise<boolean> {
  // A SEC1 PEM host key from node:crypto: ssh2's own generator now and then emits an OpenSSH key
  // that its parser then rejects ("Malformed OpenSSH private key").
  const hostKey = { private: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) };
  const allowed = utils.parseKey(authorizedLine);
  if (allowed instanceof Error) throw allowed;
  let verifiedSignature = false;
  const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const same = ctx.key.algo === allowed.type || (allowed.type === 'ssh-rsa' && ctx.key.algo.startsWith('rsa-sha2'));
      if (!same || !Buffer.from(ctx.key.data).equals(allowed.getPublicSSH())) return ctx.reject();
      if (ctx.signature === undefined) return ctx.accept(); // the "would you accept this key?" probe
      if (allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject();
      verifiedSignature = true;
      return ctx.accept();
    });
    client.on('ready', () => client.end());
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const c = new Client();
      c.on('ready', () => {
        c.end();
        resolve(verifiedSignature);
      });
      c.on('error', reject);
      c.connect({ host: '127.0.0.1', port, username: 'user', agent: agentSocket, readyTimeout: 20_000 });
    });
  } finally {
    server.close();
  }
}

describeWithTools('--simulate: the virtual card signs for OpenSSH and ssh2', [SSHD, SSH, SSH_ADD, SSH_KEYGEN], () => {
  let sshd: Sshd;

  beforeAll(async () => {
    sshd = await Sshd.start();
  });

  afterAll(async () => {
    await sshd?.stop();
    await cleanupSystem();
  });

  for (const { algo, keyType } of ALGORITHMS) {
    describe(algo, () => {
      let agent: AgentProcess;
      let dir: string;
      let keyLine: string;

      beforeAll(async () => {
        dir = await makeTempDir();
        agent = await AgentProcess.start({
          socketPath: join(dir, 'agent.sock'),
          args: ['--simulate', '--simulate-algo', algo, '--simulate-state', join(dir, 'card.json'), '-a', join(dir, 'agent.sock')],
          timeoutMs: 60_000,
        });
      });

      afterAll(async () => {
        await agent?.stop();
      });

      const env = (): NodeJS.ProcessEnv => cleanEnv({ SSH_AUTH_SOCK: agent.socketPath });

      it('ssh-add -L lists the card key with its ident as comment', async () => {
        const r = await runProgram(SSH_ADD, ['-L'], { env: env() });
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split('\n');
        expect(lines).toHaveLength(1);
        const [type, , comment] = lines[0]!.split(' ');
        expect(type).toBe(keyType);
        expect(comment).toMatch(/^FF00:[0-9A-F]{8}$/);
        keyLine = lines[0]!;
      });

      it('ssh logs in to a loopback sshd that trusts the card key', async () => {
        await sshd.authorize(keyLine);
        const r = await sshLogin({ port: sshd.port, agentSocket: agent.socketPath, command: 'echo logged-in' });
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe('logged-in\n');
        expect(r.code).toBe(0);
      });

      it('ssh-keygen -Y sign through the agent, and -Y verify accepts it', async () => {
        const pub = join(dir, 'card.pub');
        const msg = join(dir, 'message');
        await writeFile(pub, `${keyLine}\n`);
        await writeFile(msg, `signed by the ${algo} card\n`);
        const sign = await runProgram(SSH_KEYGEN, ['-Y', 'sign', '-f', pub, '-n', 'file', msg], { env: env() });
        expect(sign.stderr).toContain('Write signature');
        expect(sign.code).toBe(0);
        const signers = join(dir, 'allowed_signers');
        await writeFile(signers, `card@example ${keyLine}\n`);
        const sig = await readFile(`${msg}.sig`);
        const verify = await runProgram(SSH_KEYGEN, ['-Y', 'verify', '-f', signers, '-I', 'card@example', '-n', 'file', '-s', `${msg}.sig`], {
          env: env(),
          input: await readFile(msg, 'utf8'),
        });
        expect(sig.length).toBeGreaterThan(0);
        expect(verify.stdout).toContain('Good "file" signature');
        expect(verify.code).toBe(0);
      });

      it('an ssh2 client authenticates to an ssh2 server through the agent', async () => {
        expect(await ssh2Login(agent.socketPath, keyLine)).toBe(true);
      });

      it('the card persists: a restarted agent offers the same key', async () => {
        await agent.stop();
        agent = await AgentProcess.start({
          socketPath: join(dir, 'agent.sock'),
          args: ['--simulate', '--simulate-algo', algo, '--simulate-state', join(dir, 'card.json'), '-a', join(dir, 'agent.sock')],
        });
        const r = await runProgram(SSH_ADD, ['-L'], { env: env() });
        expect(r.stdout.trim()).toBe(keyLine);
      });
    });
  }
});
