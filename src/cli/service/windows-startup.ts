import { join } from 'node:path';
import { MARKER, type PlannedFile } from './owned-file.js';

/**
 * The per-user Startup folder (shell:startup): %APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup.
 * Chosen over a scheduled task because a logon task (schtasks /SC ONLOGON) needs an elevated
 * prompt to create, while the Startup folder is the user's own; and over a shortcut (.lnk)
 * because that needs the Shell COM API to write, while a script is plain text.
 */
export function startupDir(env: NodeJS.ProcessEnv, home: string): string {
  const appData = env['APPDATA'] !== undefined && env['APPDATA'] !== '' ? env['APPDATA'] : join(home, 'AppData', 'Roaming');
  return join(appData, 'Microsoft', 'Windows', 'Start Menu', 'Programs', 'Startup');
}

export function windowsLogPath(env: NodeJS.ProcessEnv, home: string): string {
  const local = env['LOCALAPPDATA'] !== undefined && env['LOCALAPPDATA'] !== '' ? env['LOCALAPPDATA'] : join(home, 'AppData', 'Local');
  return join(local, 'openpgp-card-agent', 'agent.log');
}

/** A VBScript string literal: quotes doubled. */
function vbs(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * A script in the Startup folder that starts the agent at logon, with no console window
 * (WScript.Shell.Run, window style 0, not waiting).
 */
export function windowsStartup(env: NodeJS.ProcessEnv, home: string, command: readonly string[]): PlannedFile {
  const line = command.map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a)).join(' ');
  const text = `' ${MARKER}\r
' Starts openpgp-card-agent at logon, without a console window.\r
CreateObject("WScript.Shell").Run ${vbs(line)}, 0, False\r
`;
  return { path: join(startupDir(env, home), 'openpgp-card-agent.vbs'), text, what: 'Windows Startup script' };
}
