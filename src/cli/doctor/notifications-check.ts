import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DBusConnection, sessionBusPath } from '../../pins/dbus/connection.js';
import type { DoctorCheck, Finding } from './check.js';

const NOTIFICATIONS = 'org.freedesktop.Notifications';

/** The session bus address libdbus would use: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. */
export function sessionBusAddress(env: NodeJS.ProcessEnv): string | undefined {
  const a = env['DBUS_SESSION_BUS_ADDRESS'];
  if (a !== undefined && a !== '') return a;
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime !== '' && existsSync(join(runtime, 'bus'))) return `unix:path=${join(runtime, 'bus')}`;
  return undefined;
}

/** How long the session bus may take to answer both questions (a bus that does not answer is a finding, not a hang). */
const BUS_TIMEOUT_MS = 5000;

/**
 * Asks the bus driver at `path` (D-Bus Specification §"Message Bus Messages") whether a
 * notification daemon owns org.freedesktop.Notifications (NameHasOwner), and if not, whether
 * D-Bus can start one (ListActivatableNames). Rejects when the bus cannot be reached or refuses
 * NameHasOwner, or does not answer within `timeoutMs`.
 */
export async function notificationDaemon(path: string, timeoutMs = BUS_TIMEOUT_MS): Promise<'running' | 'activatable' | 'none'> {
  let bus: DBusConnection | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      bus?.close();
      reject(new Error(`the session bus gave no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
  const ask = async (): Promise<'running' | 'activatable' | 'none'> => {
    const conn = await DBusConnection.open(path, timeoutMs);
    if (timedOut) {
      conn.close();
      throw new Error('timed out');
    }
    bus = conn;
    const driver = (member: string, body?: [string]): Promise<unknown[]> =>
      conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, ...(body === undefined ? {} : { signature: 's', body }) });
    const [owned] = await driver('NameHasOwner', [NOTIFICATIONS]);
    if (owned === true) return 'running';
    const [names] = await driver('ListActivatableNames').catch(() => [[]]);
    return Array.isArray(names) && names.includes(NOTIFICATIONS) ? 'activatable' : 'none';
  };
  try {
    return await Promise.race([ask(), timeout]);
  } finally {
    clearTimeout(timer);
    bus?.close();
  }
}

/**
 * Desktop notifications (touch your card, PIN problems): on Linux node-notifier runs
 * notify-send, which needs a notification daemon owning org.freedesktop.Notifications on the
 * session bus (or one D-Bus can start).
 */
export const notificationsCheck: DoctorCheck = {
  id: 'notifications',
  title: 'notifications',
  async run(ctx): Promise<Finding> {
    if (ctx.platform !== 'linux') return { verdict: 'skip', summary: 'notifications go through the system notification centre; nothing to check' };
    const fix = ['without a notification daemon the messages still go to the log; to see them on the desktop run one (GNOME Shell, KDE Plasma, dunst, mako)'];
    const address = sessionBusAddress(ctx.env);
    if (address === undefined) {
      return { verdict: 'warn', summary: 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset, no $XDG_RUNTIME_DIR/bus): no desktop notifications', fix };
    }
    const notifySend = await ctx.exec('notify-send', ['--version']);
    if (notifySend === undefined) {
      return { verdict: 'warn', summary: 'notify-send is not installed: no desktop notifications', fix: ['install it: sudo apt install libnotify-bin (Debian, Ubuntu), sudo dnf install libnotify (Fedora)'] };
    }
    let daemon: 'running' | 'activatable' | 'none';
    try {
      const path = sessionBusPath(ctx.env);
      if (path === undefined) throw new Error('DBUS_SESSION_BUS_ADDRESS names no unix socket (unix:path= or unix:abstract=)');
      daemon = await notificationDaemon(path);
    } catch (err) {
      return { verdict: 'warn', summary: `the D-Bus session bus (${address}) does not answer: no desktop notifications`, detail: [(err as Error).message], fix };
    }
    if (daemon === 'running') return { verdict: 'ok', summary: `a notification daemon owns ${NOTIFICATIONS} on the session bus` };
    if (daemon === 'activatable') return { verdict: 'ok', summary: `D-Bus starts a notification daemon (${NOTIFICATIONS}) on first use` };
    return { verdict: 'warn', summary: `no notification daemon on the session bus (nobody owns ${NOTIFICATIONS})`, fix };
  },
};
