import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CheckReport } from '../../src/cli/doctor/check.js';
import { cleanEnv, makeTempDir, runCli } from './harness/agent-process.js';

export interface DoctorRun {
  readonly code: number | null;
  readonly checks: Map<string, CheckReport>;
  readonly text: string;
}

/** `doctor --json` and `doctor` with `env` (no D-Bus, no SSH_AUTH_SOCK unless given); both outputs. */
export async function doctor(env: Record<string, string | undefined>): Promise<DoctorRun> {
  const full = cleanEnv({ DBUS_SESSION_BUS_ADDRESS: undefined, SSH_AUTH_SOCK: undefined, ...env });
  const json = await runCli(['doctor', '--json'], { env: full });
  expect(json.stderr).toBe('');
  const parsed = JSON.parse(json.stdout) as { ok: boolean; checks: CheckReport[] };
  expect(parsed.ok).toBe(json.code === 0);
  const text = await runCli(['doctor'], { env: full });
  expect(text.code).toBe(json.code);
  return { code: json.code, checks: new Map(parsed.checks.map((c) => [c.id, c])), text: text.stdout };
}

/** A home with nothing in it: no GnuPG config, no D-Bus, a private runtime dir. */
export async function emptyHome(): Promise<Record<string, string>> {
  const home = await makeTempDir('oca-doctor-');
  const runtime = join(home, 'run');
  await mkdir(runtime, { mode: 0o700 });
  return { HOME: home, XDG_RUNTIME_DIR: runtime, GNUPGHOME: join(home, 'gnupg'), XDG_CONFIG_HOME: join(home, 'config') };
}
