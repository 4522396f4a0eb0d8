import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupSystem, makeTempDir } from './harness/agent-process.js';
import { SSH, SSHD, SSH_KEYGEN, Sshd, describeWithTools, makeKeyPair, sshLogin } from './harness/sshd.js';

describeWithTools('sshd harness', [SSHD, SSH, SSH_KEYGEN], () => {
  let sshd: Sshd;

  beforeAll(async () => {
    sshd = await Sshd.start();
  });

  afterAll(async () => {
    await sshd?.stop();
    await cleanupSystem();
  });

  it('lets in a key listed in authorized_keys, and runs the command', async () => {
    const dir = await makeTempDir();
    const key = await makeKeyPair(dir);
    await sshd.authorize(key.publicLine);
    const r = await sshLogin({ port: sshd.port, identityFile: key.path, command: 'echo logged-in' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('logged-in');
  });

  it('turns away a key that is not listed', async () => {
    const dir = await makeTempDir();
    const listed = await makeKeyPair(dir, 'listed');
    const other = await makeKeyPair(dir, 'other');
    await sshd.authorize(listed.publicLine);
    const r = await sshLogin({ port: sshd.port, identityFile: other.path });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied (publickey)');
  });
});
