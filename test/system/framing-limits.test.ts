import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { AgentProcess, REPO_ROOT, agentRequest, cleanupSystem, requireBuild, runProgram } from './harness/agent-process.js';
import { describeWithTools } from './harness/sshd.js';
import { RawClient } from '../server/helpers.js';

const SSH_AGENT = '/usr/bin/ssh-agent';
const PRLIMIT = '/usr/bin/prlimit';

afterAll(async () => {
  await cleanupSystem();
});

describeWithTools('framing under abuse (daemon process, Linux /proc)', [SSH_AGENT, PRLIMIT], () => {
  it('2,000 connections announcing 256 KiB each: at most 256 held, the longest-stalled closed to make room; RSS growth measured against OpenSSH ssh-agent and a bare Node server', async () => {
    requireBuild();
    const r = await runProgram(process.execPath, [join(REPO_ROOT, 'scripts/framing-memory.mjs'), '--connections', '2000'], { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim()) as { results: { name: string; growthKiB: number; beforeKiB: number; heldOpen: number; closedByServer: number }[] };
    console.log(`framing memory: ${JSON.stringify(report.results)}`);
    const [ours, openssh, floor] = report.results;
    expect(ours!.name).toBe('openpgp-card-agent');
    expect(openssh!.name).toBe('OpenSSH ssh-agent');
    expect(floor!.name).toBe('bare Node server (floor)');
    // At most 256 connections are held (the default --max-connections); the stalled ones made
    // room for the newer ones, and the script's last REQUEST_IDENTITIES was still answered.
    expect(ours!.heldOpen).toBeLessThanOrEqual(256);
    expect(ours!.closedByServer).toBeGreaterThanOrEqual(2000 - 256);
    expect(floor!.heldOpen).toBe(2000);
    // The old splitter allocated the announced 256 KiB per connection (+280 MB for 2,000); now
    // the bytes that arrived (4 each) plus what Node itself grows by when accepting 2,000
    // connections (the bare net.Server beside it: ~15 MB).
    expect(ours!.growthKiB).toBeLessThan(40 * 1024);
  }, 300_000);

  it('near the file-descriptor limit (libuv hides EMFILE from Node): stops below it, logs it once, keeps serving the open connections, and accepts again later', async () => {
    const agent = await AgentProcess.start();
    const limit = await runProgram(PRLIMIT, ['--pid', String(agent.pid), '--nofile=64:64']);
    expect(limit.code, limit.stderr).toBe(0);
    const clients: RawClient[] = [];
    try {
      // Connect until the daemon turns connections away (each refused one is closed at once).
      for (let i = 0; i < 100; i++) {
        const c = await RawClient.connect(agent.socketPath).catch(() => undefined);
        if (c !== undefined) clients.push(c);
      }
      const logged = async (msg: RegExp): Promise<Record<string, unknown>> => {
        for (;;) {
          const found = agent.logLines().find((l) => msg.test(String(l['msg'])));
          if (found !== undefined) return found;
          await new Promise<void>((resolve) => agent.child.stderr!.once('data', () => resolve()));
        }
      };
      expect(await logged(/^turning connections away: 32 connections open, all the file descriptor limit allows \(ulimit -n 64\)/)).toMatchObject({ level: 40 });
      expect(agent.logLines().filter((l) => String(l['msg']).startsWith('turning connections away')).length).toBe(1);
      // A connection accepted before the limit still gets answers.
      const open = clients.find((c) => !c.socket.destroyed)!;
      open.send(Uint8Array.of(11));
      expect(await open.waitForReplies(1)).toEqual([Uint8Array.of(12, 0, 0, 0, 0)]);
      for (const c of clients) c.close();
      await Promise.all(clients.map((c) => c.ended));
      // With descriptors free again, new clients are served and the episode is closed in the log.
      let reply: Uint8Array | null = null;
      while (reply === null) reply = await agentRequest(agent.socketPath, Uint8Array.of(11)).catch(() => null);
      expect(reply).toEqual(Uint8Array.of(12, 0, 0, 0, 0));
      expect(await logged(/^accepting connections again/)).toMatchObject({ level: 30 });
      expect(agent.status).toBeUndefined();
    } finally {
      for (const c of clients) c.close();
      await agent.stop();
    }
  }, 120_000);
});
