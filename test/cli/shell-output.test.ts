import { describe, expect, it } from 'vitest';
import { foregroundOutput, killedOutput, shellFromEnv, startedOutput } from '../../src/cli/shell-output.js';

// Expected texts follow ssh-agent.c's printf formats:
//   "%s=%s; export %s;\n" / "setenv %s %s;\n", "echo Agent pid %ld;\n",
//   "unset %s;\n" / "unsetenv %s;\n", "echo Agent pid %ld killed;\n".
describe('shell output (as ssh-agent prints it)', () => {
  it('prints Bourne shell commands for -s', () => {
    expect(startedOutput('sh', '/run/user/1000/openpgp-card-agent/agent.sock', 4242)).toBe(
      'SSH_AUTH_SOCK=/run/user/1000/openpgp-card-agent/agent.sock; export SSH_AUTH_SOCK;\n' +
        'SSH_AGENT_PID=4242; export SSH_AGENT_PID;\n' +
        'echo Agent pid 4242;\n',
    );
  });

  it('prints csh commands for -c', () => {
    expect(startedOutput('csh', '/tmp/x/agent.sock', 7)).toBe(
      'setenv SSH_AUTH_SOCK /tmp/x/agent.sock;\nsetenv SSH_AGENT_PID 7;\necho Agent pid 7;\n',
    );
  });

  it('prints no SSH_AGENT_PID in the foreground (-D -s), as ssh-agent -D', () => {
    expect(foregroundOutput('sh', '/tmp/a.sock', 9)).toBe('SSH_AUTH_SOCK=/tmp/a.sock; export SSH_AUTH_SOCK;\necho Agent pid 9;\n');
  });

  it('prints unset commands for -k in both syntaxes', () => {
    expect(killedOutput('sh', 12)).toBe('unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\necho Agent pid 12 killed;\n');
    expect(killedOutput('csh', 12)).toBe('unsetenv SSH_AUTH_SOCK;\nunsetenv SSH_AGENT_PID;\necho Agent pid 12 killed;\n');
  });

  it("quotes a path only when eval would split it (ssh-agent would not, and break)", () => {
    expect(startedOutput('sh', "/tmp/my dir/it's.sock", 1).split('\n')[0]).toBe(
      "SSH_AUTH_SOCK='/tmp/my dir/it'\\''s.sock'; export SSH_AUTH_SOCK;",
    );
  });

  it('picks csh syntax when $SHELL ends in csh, as ssh-agent does', () => {
    expect(shellFromEnv({ SHELL: '/bin/tcsh' })).toBe('csh');
    expect(shellFromEnv({ SHELL: '/usr/bin/zsh' })).toBe('sh');
    expect(shellFromEnv({})).toBe('sh');
  });
});
