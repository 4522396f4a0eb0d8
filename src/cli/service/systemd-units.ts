import { join } from 'node:path';
import { MARKER, type PlannedFile } from './owned-file.js';

export const SOCKET_UNIT = 'openpgp-card-agent.socket';
export const SERVICE_UNIT = 'openpgp-card-agent.service';

/** Where user units go: $XDG_CONFIG_HOME/systemd/user (default ~/.config/systemd/user). */
export function userUnitDir(env: NodeJS.ProcessEnv, home: string): string {
  const config = env['XDG_CONFIG_HOME'];
  return join(config !== undefined && config !== '' ? config : join(home, '.config'), 'systemd', 'user');
}

/**
 * One word of ExecStart= (systemd.service(5) "Command lines"): `%` doubled (specifiers), `$`
 * doubled (variable expansion), and double-quoted with backslash and quote escaped unless plain.
 */
export function execWord(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[\w@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A socket unit in the user's runtime directory (%t = $XDG_RUNTIME_DIR), at the path the agent
 * uses by default, and the service it starts on the first connection (the agent, in the
 * foreground, serving the passed socket).
 */
export function systemdUnits(unitDir: string, command: readonly string[]): PlannedFile[] {
  const socket = `# ${MARKER}
[Unit]
Description=openpgp-card-agent socket (ssh-agent for OpenPGP smartcards)
Documentation=man:openpgp-card-agent(1)

[Socket]
ListenStream=%t/openpgp-card-agent/agent.sock
SocketMode=0600
DirectoryMode=0700

[Install]
WantedBy=sockets.target
`;
  const service = `# ${MARKER}
[Unit]
Description=openpgp-card-agent (ssh-agent for OpenPGP smartcards)
Documentation=man:openpgp-card-agent(1)
Requires=${SOCKET_UNIT}
After=${SOCKET_UNIT}

[Service]
ExecStart=${command.map(execWord).join(' ')}
Restart=on-failure

[Install]
Also=${SOCKET_UNIT}
`;
  return [
    { path: join(unitDir, SOCKET_UNIT), text: socket, what: 'systemd socket unit' },
    { path: join(unitDir, SERVICE_UNIT), text: service, what: 'systemd service unit' },
  ];
}
