import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { killAgent } from '../../src/cli/commands/kill.js';
import { ConfigError } from '../../src/errors.js';

function capture(): { text: () => string; stdout: (s: string) => Promise<void> } {
  let out = '';
  return { text: () => out, stdout: async (s) => void (out += s) };
}

describe('killAgent (-k)', () => {
  it('sends SIGTERM to SSH_AGENT_PID, waits for it to exit and prints the unset commands', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const exit = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, s) => resolve(s)));
    const out = capture();
    const pid = child.pid ?? 0;
    await expect(killAgent({ env: { SSH_AGENT_PID: String(pid) }, shell: 'sh', stdout: out.stdout })).resolves.toBe(0);
    expect(await exit).toBe('SIGTERM');
    expect(out.text()).toBe(`unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\necho Agent pid ${pid} killed;\n`);
  });

  it('refuses without SSH_AGENT_PID, or with one that is not a good PID, as ssh-agent does', async () => {
    const out = capture();
    await expect(killAgent({ env: {}, shell: 'sh', stdout: out.stdout })).rejects.toThrow('SSH_AGENT_PID not set, cannot kill agent');
    for (const bad of ['abc', '1', '0', '-5', '99999999999']) {
      await expect(killAgent({ env: { SSH_AGENT_PID: bad }, shell: 'sh', stdout: out.stdout })).rejects.toThrow(ConfigError);
    }
    await expect(killAgent({ env: { SSH_AGENT_PID: 'x1' }, shell: 'sh', stdout: out.stdout })).rejects.toThrow(
      'SSH_AGENT_PID="x1", which is not a good PID',
    );
    expect(out.text()).toBe('');
  });

  it('fails when no such process exists', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    const out = capture();
    await expect(killAgent({ env: { SSH_AGENT_PID: String(child.pid) }, shell: 'sh', stdout: out.stdout })).rejects.toThrow(/no such process/);
  });
});
