/** Which shell syntax -s/-c/-k print, as ssh-agent chooses it. */
export type ShellSyntax = 'sh' | 'csh';

/**
 * ssh-agent's choice when neither -s nor -c is given: csh syntax if $SHELL ends in "csh".
 */
export function shellFromEnv(env: NodeJS.ProcessEnv): ShellSyntax {
  return (env['SHELL'] ?? '').endsWith('csh') ? 'csh' : 'sh';
}

/**
 * ssh-agent prints values unquoted; we do the same, and quote only a value that would not
 * survive `eval` as one word (so ordinary paths print byte-for-byte as ssh-agent's would).
 */
function word(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function set(shell: ShellSyntax, name: string, value: string): string {
  return shell === 'csh' ? `setenv ${name} ${word(value)};\n` : `${name}=${word(value)}; export ${name};\n`;
}

function unset(shell: ShellSyntax, name: string): string {
  return shell === 'csh' ? `unsetenv ${name};\n` : `unset ${name};\n`;
}

/** What `ssh-agent -s|-c` prints after starting in the background (ssh-agent.c main()). */
export function startedOutput(shell: ShellSyntax, socketPath: string, pid: number): string {
  return `${set(shell, 'SSH_AUTH_SOCK', socketPath)}${set(shell, 'SSH_AGENT_PID', String(pid))}echo Agent pid ${pid};\n`;
}

/** What `ssh-agent -D -s|-c` prints when staying in the foreground: no SSH_AGENT_PID line. */
export function foregroundOutput(shell: ShellSyntax, socketPath: string, pid: number): string {
  return `${set(shell, 'SSH_AUTH_SOCK', socketPath)}echo Agent pid ${pid};\n`;
}

/** What `ssh-agent -k` prints after signalling the agent. */
export function killedOutput(shell: ShellSyntax, pid: number): string {
  return `${unset(shell, 'SSH_AUTH_SOCK')}${unset(shell, 'SSH_AGENT_PID')}echo Agent pid ${pid} killed;\n`;
}

/**
 * What `-s|-c` prints when an agent already serves the socket: its lines, as if it had just been
 * started, so `eval "$(openpgp-card-agent -s)"` is safe in every new shell. Without a pid (a
 * socket systemd holds before the agent runs) only SSH_AUTH_SOCK is set.
 */
export function existingAgentOutput(shell: ShellSyntax, socketPath: string, pid: number | undefined): string {
  if (pid !== undefined) return startedOutput(shell, socketPath, pid);
  return `${set(shell, 'SSH_AUTH_SOCK', socketPath)}echo Agent already listening on ${word(socketPath)};\n`;
}
