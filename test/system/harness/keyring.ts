import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, makeTempDir, runProgram } from './agent-process.js';

export const DBUS_DAEMON = '/usr/bin/dbus-daemon';
export const GNOME_KEYRING = '/usr/bin/gnome-keyring-daemon';
export const SECRET_TOOL = '/usr/bin/secret-tool';

/**
 * A private D-Bus session with an unlocked gnome-keyring (Secret Service) in a temporary home:
 * the user's real keyring is never touched. Processes that should reach it get `env`.
 */
export class KeyringSession {
  private constructor(
    readonly env: Record<string, string>,
    private readonly pids: number[],
  ) {}

  static async start(): Promise<KeyringSession> {
    const home = await makeTempDir('oca-keyring-');
    const dirs = { HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), XDG_RUNTIME_DIR: join(home, 'run') };
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o700 });
    const bus = await runProgram(DBUS_DAEMON, ['--session', '--fork', '--print-address=1', '--print-pid=1'], { env: cleanEnv(dirs) });
    const [address, pid] = bus.stdout.trim().split('\n');
    if (bus.code !== 0 || address === undefined || pid === undefined) throw new Error(`dbus-daemon failed: ${bus.stderr}`);
    const env = { ...dirs, DBUS_SESSION_BUS_ADDRESS: address };
    // --unlock reads the login keyring's password on stdin and creates the keyring if needed.
    const keyring = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(GNOME_KEYRING, ['--unlock', '--components=secrets', '--daemonize'], { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stdin.end('test-keyring-password');
      child.once('exit', (code) => resolve({ code, out }));
    });
    if (keyring.code !== 0) throw new Error(`gnome-keyring-daemon failed (${keyring.code}): ${keyring.out}`);
    const session = new KeyringSession(env, [Number(pid)]);
    const daemonPid = /GNOME_KEYRING_PID=(\d+)/.exec(keyring.out)?.[1];
    if (daemonPid !== undefined) session.pids.push(Number(daemonPid));
    return session;
  }

  /** secret-tool lookup service openpgp-card username IDENT: the stored PIN, or undefined. */
  async lookup(ident: string): Promise<string | undefined> {
    const r = await runProgram(SECRET_TOOL, ['lookup', 'service', 'openpgp-card', 'username', ident], { env: cleanEnv(this.env) });
    return r.code === 0 ? r.stdout : undefined;
  }

  /** Stores a PIN the way openpgp-card-state (keyring-rs) does: attributes service and username. */
  async store(ident: string, pin: string): Promise<void> {
    const r = await runProgram(SECRET_TOOL, ['store', `--label=keyring:${ident}@openpgp-card`, 'service', 'openpgp-card', 'username', ident], {
      env: cleanEnv(this.env),
      input: pin,
    });
    if (r.code !== 0) throw new Error(`secret-tool store failed: ${r.stderr}`);
  }

  /**
   * `secret-tool search --all service openpgp-card`: the items' secrets and attribute lines.
   * secret-tool prints label and secret on stdout but the attributes on stderr, so attribute
   * lines cannot be told apart per item: tests look at one item at a time.
   */
  async search(service = 'openpgp-card'): Promise<{ secrets: string[]; attributes: string[] }> {
    const r = await runProgram(SECRET_TOOL, ['search', '--all', '--unlock', 'service', service], { env: cleanEnv(this.env) });
    const secrets = [...r.stdout.matchAll(/^secret = (.*)$/gm)].map((m) => m[1]!);
    const attributes = [...`${r.stdout}\n${r.stderr}`.matchAll(/^(attribute\.\S+ = .*)$/gm)].map((m) => m[1]!).sort();
    return { secrets, attributes };
  }

  async stop(): Promise<void> {
    for (const pid of this.pids.reverse()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}
