import { join } from 'node:path';
import { MARKER, type PlannedFile } from './owned-file.js';

export const LAUNCHD_LABEL = 'openpgp-card-agent';

export function launchAgentPath(home: string): string {
  return join(home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

export function launchdLogPath(home: string): string {
  return join(home, 'Library', 'Logs', 'openpgp-card-agent', 'agent.log');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A launchd user agent (launchd.plist(5)): started at login (RunAtLoad) and again if it dies
 * (KeepAlive unless it exited cleanly). launchd's own socket activation needs
 * launch_activate_socket(3), which Node cannot call, so the agent binds its socket itself.
 */
export function launchdAgent(home: string, command: readonly string[], logPath: string): PlannedFile {
  const args = command.map((a) => `    <string>${xml(a)}</string>`).join('\n');
  const text = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- ${xml(MARKER)} -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Interactive</string>
  <key>StandardErrorPath</key>
  <string>${xml(logPath)}</string>
</dict>
</plist>
`;
  return { path: launchAgentPath(home), text, what: 'launchd agent' };
}
