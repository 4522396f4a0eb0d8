import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorCheck, DoctorContext, Finding } from './check.js';

const NOTIFICATIONS = 'org.freedesktop.Notifications';

/** The session bus address libdbus would use: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. */
export function sessionBusAddress(env: NodeJS.ProcessEnv): string | undefined {
  const a = env['DBUS_SESSION_BUS_ADDRESS'];
  if (a !== undefined && a !== '') return a;
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime !== '' && existsSync(join(runtime, 'bus'))) return `unix:path=${join(runtime, 'bus')}`;
  return undefined;
}

async function busCall(ctx: DoctorContext, address: string, method: string, arg?: string): Promise<string | undefined> {
  const r = await ctx.exec(
    'dbus-send',
    [`--bus=${address}`, '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', `org.freedesktop.DBus.${method}`, ...(arg === undefined ? [] : [`string:${arg}`])],
    { timeoutMs: 5000 },
  );
  if (r === undefined) return undefined;
  if (r.code === null) throw new Error('dbus-send got no answer within 5 s');
  if (r.code !== 0) throw new Error(r.stderr.trim() || `dbus-send exited ${r.code}`);
  return r.stdout;
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
    let owned: string | undefined;
    try {
      owned = await busCall(ctx, address, 'NameHasOwner', NOTIFICATIONS);
    } catch (err) {
      return { verdict: 'warn', summary: `the D-Bus session bus (${address}) does not answer: no desktop notifications`, detail: [(err as Error).message], fix };
    }
    if (owned === undefined) return { verdict: 'skip', summary: 'cannot ask the session bus: dbus-send is not installed' };
    if (/boolean true/.test(owned)) return { verdict: 'ok', summary: `a notification daemon owns ${NOTIFICATIONS} on the session bus` };
    const activatable = await busCall(ctx, address, 'ListActivatableNames').catch(() => '');
    if (activatable?.includes(`"${NOTIFICATIONS}"`) === true) {
      return { verdict: 'ok', summary: `D-Bus starts a notification daemon (${NOTIFICATIONS}) on first use` };
    }
    return { verdict: 'warn', summary: `no notification daemon on the session bus (nobody owns ${NOTIFICATIONS})`, fix };
  },
};
