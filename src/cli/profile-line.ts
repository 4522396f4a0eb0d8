/** The line for the user's shell profile that points SSH_AUTH_SOCK at `socketPath`. */
export function profileLine(socketPath: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return `[Environment]::SetEnvironmentVariable('SSH_AUTH_SOCK', '${socketPath}', 'User')   # PowerShell, once`;
  const shell = env['SHELL'] ?? '';
  const runtime = env['XDG_RUNTIME_DIR'];
  const shown = runtime !== undefined && runtime !== '' && socketPath.startsWith(`${runtime}/`) ? `$XDG_RUNTIME_DIR${socketPath.slice(runtime.length)}` : socketPath;
  if (shell.endsWith('fish')) return `set -gx SSH_AUTH_SOCK "${shown}"   # in ~/.config/fish/config.fish`;
  if (shell.endsWith('csh')) return `setenv SSH_AUTH_SOCK "${shown}"   # in ~/.cshrc`;
  return `export SSH_AUTH_SOCK="${shown}"   # in ~/.profile, ~/.bashrc or ~/.zshrc`;
}
