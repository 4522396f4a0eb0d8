import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ListenAddress } from '../server/listen-address.js';

export const APP_NAME = 'openpgp-card-agent';
export const WINDOWS_PIPE = '\\\\.\\pipe\\openpgp-card-agent';

/**
 * Where the agent listens when not told: `$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock`;
 * without XDG_RUNTIME_DIR a per-user directory under the temp dir
 * (`/tmp/openpgp-card-agent-<uid>/agent.sock`); on Windows the pipe `\\.\pipe\openpgp-card-agent`.
 */
export function defaultListenAddress(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  uid: number | undefined = process.getuid?.(),
  tmp: string = tmpdir(),
): ListenAddress {
  if (platform === 'win32') return { kind: 'pipe', path: WINDOWS_PIPE };
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && isAbsolute(runtime)) return { kind: 'unix', path: join(runtime, APP_NAME, 'agent.sock') };
  return { kind: 'unix', path: join(tmp, `${APP_NAME}-${uid ?? 'user'}`, 'agent.sock') };
}
