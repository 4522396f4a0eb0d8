import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, makeTempDir, runProgram } from './agent-process.js';

export const DBUS_DAEMON = '/usr/bin/dbus-daemon';
export const GNOME_KEYRING = '/usr/bin/gnome-keyring-daemon';
export const SECRET_TOOL = '/usr/bin/secret-tool';
export const GDBUS = '/usr/bin/gdbus';

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

  /**
   * `secret-tool lookup service openpgp-card username IDENT target default`: what openpgp-card-state
   * (keyring-rs 3) finds first. The stored PIN, or undefined.
   */
  async lookup(ident: string): Promise<string | undefined> {
    const r = await runProgram(SECRET_TOOL, ['lookup', 'service', 'openpgp-card', 'username', ident, 'target', 'default'], { env: cleanEnv(this.env) });
    return r.code === 0 ? r.stdout : undefined;
  }

  /**
   * Stores a PIN the way openpgp-card-state 0.4 (keyring-rs 3.6.3) does: attributes service,
   * username, target=default, application=rust-keyring, label IDENT@openpgp-card:default (keyring v3.6.3).
   */
  async store(ident: string, pin: string): Promise<void> {
    await this.secretToolStore(`${ident}@openpgp-card:default (keyring v3.6.3)`, ['service', 'openpgp-card', 'username', ident, 'target', 'default', 'application', 'rust-keyring'], pin);
  }

  /** Stores a PIN the way earlier versions of this agent did (@napi-rs/keyring 2): service and username only. */
  async storeLegacy(ident: string, pin: string): Promise<void> {
    await this.secretToolStore(`keyring:${ident}@openpgp-card`, ['service', 'openpgp-card', 'username', ident], pin);
  }

  private async secretToolStore(label: string, attributes: string[], pin: string): Promise<void> {
    const r = await runProgram(SECRET_TOOL, ['store', `--label=${label}`, ...attributes], { env: cleanEnv(this.env), input: pin });
    if (r.code !== 0) throw new Error(`secret-tool store failed: ${r.stderr}`);
  }

  /**
   * Every Secret Service item for the card (any target, any collection), seen through GLib's
   * gdbus (attributes, label) and secret-tool (secrets, by label): tools independent of ours.
   */
  async items(ident: string): Promise<Array<{ label: string; secret: string; attributes: Record<string, string>; modified: number }>> {
    const env = cleanEnv(this.env);
    const gdbus = (args: string[]) => runProgram(GDBUS, ['call', '--session', '--dest', 'org.freedesktop.secrets', ...args], { env });
    const found = await gdbus(['--object-path', '/org/freedesktop/secrets', '--method', 'org.freedesktop.Secret.Service.SearchItems', `{'service': 'openpgp-card', 'username': '${ident}'}`]);
    if (found.code !== 0) throw new Error(`gdbus SearchItems failed: ${found.stderr}`);
    const paths = [...found.stdout.matchAll(/'(\/org\/freedesktop\/secrets\/[^']+)'/g)].map((m) => m[1]!);
    const listed = await runProgram(SECRET_TOOL, ['search', '--all', '--unlock', 'service', 'openpgp-card', 'username', ident], { env });
    const secrets = new Map<string, string>();
    for (const m of listed.stdout.matchAll(/^label = (.*)\nsecret = (.*)$/gm)) secrets.set(m[1]!, m[2]!);
    const items = [];
    for (const path of paths) {
      const get = async (name: string): Promise<string> => {
        const r = await gdbus(['--object-path', path, '--method', 'org.freedesktop.DBus.Properties.Get', 'org.freedesktop.Secret.Item', name]);
        if (r.code !== 0) throw new Error(`gdbus Get ${name} failed: ${r.stderr}`);
        return r.stdout;
      };
      const attributes: Record<string, string> = {};
      for (const m of (await get('Attributes')).matchAll(/'([^']*)': '([^']*)'/g)) if (m[1] !== 'xdg:schema') attributes[m[1]!] = m[2]!;
      const label = /<'(.*)'>/.exec(await get('Label'))?.[1] ?? '';
      const modified = Number(/uint64 (\d+)/.exec(await get('Modified'))?.[1] ?? 0);
      items.push({ label, secret: secrets.get(label) ?? '', attributes, modified });
    }
    return items.sort((a, b) => a.label.localeCompare(b.label));
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
