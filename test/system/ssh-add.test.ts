import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AgentProcess, cleanEnv, cleanupSystem, makeTempDir, runProgram } from './harness/agent-process.js';
import { SSH, SSHD, SSH_ADD, SSH_KEYGEN, Sshd, describeWithTools, makeKeyPair, sshLogin } from './harness/sshd.js';

/** A script for SSH_ASKPASS that prints `passphrase`. */
async function askpass(dir: string, name: string, passphrase: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nprintf '%s\\n' '${passphrase}'\n`);
  await chmod(path, 0o700);
  return path;
}

describeWithTools('OpenSSH ssh-add against the daemon', [SSH_ADD], () => {
  let agent: AgentProcess;
  let dir: string;

  beforeAll(async () => {
    dir = await makeTempDir();
    agent = await AgentProcess.start({ socketPath: join(dir, 'agent.sock') });
  });

  afterAll(async () => {
    await cleanupSystem();
  });

  function sshAdd(args: string[], extraEnv: Record<string, string> = {}) {
    return runProgram(SSH_ADD, args, { env: cleanEnv({ SSH_AUTH_SOCK: agent.socketPath, ...extraEnv }) });
  }

  function withAskpass(script: string): Record<string, string> {
    return { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
  }

  it('ssh-add -l: "The agent has no identities."', async () => {
    const r = await sshAdd(['-l']);
    expect(r.stdout).toBe('The agent has no identities.\n');
    expect(r.code).toBe(1);
  });

  it('ssh-add -L agrees', async () => {
    const r = await sshAdd(['-L']);
    expect(r.stdout).toBe('The agent has no identities.\n');
    expect(r.code).toBe(1);
  });

  it('ssh-add -x locks, a wrong -X fails, the right -X unlocks', async () => {
    const right = await askpass(dir, 'right.sh', 'correct horse');
    const wrong = await askpass(dir, 'wrong.sh', 'battery staple');

    const lock = await sshAdd(['-x'], withAskpass(right));
    expect(lock.stderr).toContain('Agent locked.');
    expect(lock.code).toBe(0);

    const again = await sshAdd(['-x'], withAskpass(right));
    expect(again.stderr).toContain('Failed to lock agent');
    expect(again.code).toBe(1);

    const bad = await sshAdd(['-X'], withAskpass(wrong));
    expect(bad.stderr).toContain('Failed to unlock agent');
    expect(bad.code).toBe(1);

    const good = await sshAdd(['-X'], withAskpass(right));
    expect(good.stderr).toContain('Agent unlocked.');
    expect(good.code).toBe(0);

    const list = await sshAdd(['-l']);
    expect(list.stdout).toBe('The agent has no identities.\n');
  });

  it('ssh-add -s (PKCS#11 provider) is refused cleanly and the agent lives on', async () => {
    const pin = await askpass(dir, 'pin.sh', '123456');
    const r = await sshAdd(['-s', 'foo'], withAskpass(pin));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Could not add card "foo": agent refused operation/);
    const e = await sshAdd(['-e', 'foo']);
    expect(e.code).not.toBe(0);
    expect(e.stderr).toMatch(/Could not remove card "foo": agent refused operation/);
    expect(agent.status).toBeUndefined();
    expect((await sshAdd(['-l'])).stdout).toBe('The agent has no identities.\n');
  });

  it('ssh-add of a file key is refused: the agent keeps keys only on cards', async () => {
    const key = await makeKeyPair(dir, 'file_key');
    const r = await sshAdd([key.path]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/agent refused operation/);
    expect((await sshAdd(['-l'])).stdout).toBe('The agent has no identities.\n');
  });
});

describeWithTools('ssh through the daemon into a real sshd', [SSHD, SSH, SSH_KEYGEN], () => {
  let sshd: Sshd;
  let agent: AgentProcess;

  beforeAll(async () => {
    sshd = await Sshd.start();
    agent = await AgentProcess.start();
  });

  afterAll(async () => {
    await sshd?.stop();
    await cleanupSystem();
  });

  it('asks the agent for identities, gets none, and is denied', async () => {
    const key = await makeKeyPair(await makeTempDir());
    await sshd.authorize(key.publicLine);
    const r = await sshLogin({ port: sshd.port, agentSocket: agent.socketPath });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied (publickey)');
    // ssh did talk to the agent: the daemon logged a connection from it.
    expect(agent.logLines().some((l) => l['msg'] === 'connection opened')).toBe(true);
    expect(agent.status).toBeUndefined();
  });
});
