import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { processState } from '../../os/procfs.js';
import type { DoctorCheck, DoctorContext, Finding } from './check.js';
import { pcscSocketFor, PCSCLITE_DEFAULT_SOCKET } from './pcsc-clients.js';

/** The Linux distribution family, from /etc/os-release's ID and ID_LIKE. */
export type LinuxFamily = 'debian' | 'fedora' | 'arch' | 'suse' | 'alpine' | 'other';

export function linuxFamily(osRelease: string): LinuxFamily {
  const field = (name: string): string[] => {
    const m = new RegExp(`^${name}=(.*)$`, 'm').exec(osRelease);
    return m === null ? [] : m[1]!.replace(/^["']|["']$/g, '').toLowerCase().split(/\s+/);
  };
  const ids = [...field('ID'), ...field('ID_LIKE')];
  if (ids.some((i) => i === 'debian' || i === 'ubuntu')) return 'debian';
  if (ids.some((i) => i === 'fedora' || i === 'rhel' || i === 'centos')) return 'fedora';
  if (ids.some((i) => i === 'arch' || i === 'archlinux')) return 'arch';
  if (ids.some((i) => i.includes('suse'))) return 'suse';
  if (ids.includes('alpine')) return 'alpine';
  return 'other';
}

const INSTALL: Readonly<Record<LinuxFamily, { daemon: string; library: string }>> = {
  debian: { daemon: 'sudo apt install pcscd', library: 'sudo apt install libpcsclite1 pcscd' },
  fedora: { daemon: 'sudo dnf install pcsc-lite', library: 'sudo dnf install pcsc-lite-libs pcsc-lite' },
  arch: { daemon: 'sudo pacman -S pcsclite ccid', library: 'sudo pacman -S pcsclite ccid' },
  suse: { daemon: 'sudo zypper install pcsc-lite', library: 'sudo zypper install libpcsclite1 pcsc-lite' },
  alpine: { daemon: 'sudo apk add pcsc-lite', library: 'sudo apk add pcsc-lite-libs pcsc-lite' },
  other: { daemon: "install pcsc-lite's daemon (the package is called pcscd or pcsc-lite)", library: "install pcsc-lite's client library (libpcsclite1, pcsc-lite-libs or pcsclite)" },
};

/** What the fixes depend on, found on this system (tests give their own). */
export interface PcscHost {
  readonly platform: NodeJS.Platform;
  readonly family: LinuxFamily;
  /** pcscd's program is installed. */
  readonly pcscdInstalled: boolean;
  /** systemd runs this system (/run/systemd/system). */
  readonly systemd: boolean;
}

export function thisHost(platform: NodeJS.Platform): PcscHost {
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // no os-release: a generic answer
  }
  return {
    platform,
    family: linuxFamily(osRelease),
    pcscdInstalled: ['/usr/sbin/pcscd', '/usr/bin/pcscd', '/usr/local/sbin/pcscd', '/sbin/pcscd'].some((p) => existsSync(p)),
    systemd: existsSync('/run/systemd/system'),
  };
}

/** How to get pcscd running on this system: install it if needed, and start it (socket-activated where systemd runs). */
export function startPcscdFix(host: PcscHost): string[] {
  if (host.platform === 'darwin') {
    return ['PC/SC is part of macOS and starts when a reader is plugged in: plug in the card (or its reader)', 'if it still says so, log out and in again'];
  }
  if (host.platform === 'win32') {
    return [
      'Windows starts its Smart Card service (SCardSvr) when a reader is plugged in: plug in the card (or its reader)',
      'or start it for good, in an administrator PowerShell:',
      '    Set-Service SCardSvr -StartupType Automatic; Start-Service SCardSvr',
    ];
  }
  const lines: string[] = [];
  if (!host.pcscdInstalled) lines.push('install pcscd:', `    ${INSTALL[host.family].daemon}`);
  if (host.family === 'alpine') {
    lines.push('start it, and at every boot:', '    sudo rc-update add pcscd && sudo rc-service pcscd start');
  } else if (host.systemd) {
    lines.push('start it (systemd starts pcscd when a program asks for it, and at every boot):', '    sudo systemctl enable --now pcscd.socket');
  } else {
    lines.push('start it (this system runs without systemd):', '    sudo pcscd', '  or through your init system, e.g. sudo service pcscd start');
  }
  return lines;
}

/** pcscd's pid from the pid file pcsc-lite keeps beside its socket (pcscd.pid). */
function pcscdPid(socket: string): number | undefined {
  try {
    // pcsc-lite writes "PID\n" and a NUL.
    const m = /^\s*(\d+)/.exec(readFileSync(join(dirname(socket), 'pcscd.pid'), 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Builds the pcscd check for `host` (the real one by default). */
export function makePcscdCheck(hostOf: (ctx: DoctorContext) => PcscHost = (ctx) => thisHost(ctx.platform)): DoctorCheck {
  return {
    id: 'pcscd',
    title: 'pcscd',
    async run(ctx): Promise<Finding> {
      const survey = await ctx.pcsc();
      const host = hostOf(ctx);
      const unix = ctx.platform !== 'win32' && ctx.platform !== 'darwin';
      const service = unix ? 'pcscd' : ctx.platform === 'win32' ? 'the Smart Card service' : 'PC/SC';
      const socket = pcscSocketFor(ctx.env);
      const custom = unix && socket !== PCSCLITE_DEFAULT_SOCKET;
      const where = unix ? ` (${socket})` : '';
      switch (survey.kind) {
        case 'ok': {
          const n = survey.readers.length;
          return { verdict: 'ok', summary: `${service} answers${where}: ${n === 0 ? 'no reader' : n === 1 ? '1 reader' : `${n} readers`}` };
        }
        case 'no-library':
          return {
            verdict: 'fail',
            summary: 'the PC/SC library is not installed, so no card can be reached',
            detail: [survey.message],
            fix: unix ? ['install it, and pcscd:', `    ${INSTALL[host.family].library}`, ...startPcscdFix({ ...host, pcscdInstalled: true })] : startPcscdFix(host),
          };
        case 'no-service': {
          const detail = [survey.message];
          const fix: string[] = [];
          if (custom) {
            detail.push(`PCSCLITE_CSOCK_NAME=${socket} names the pcscd to use${existsSync(socket) ? '' : '; there is no socket there'}`);
            fix.push(`start the pcscd PCSCLITE_CSOCK_NAME names, or unset PCSCLITE_CSOCK_NAME to use the system's (${PCSCLITE_DEFAULT_SOCKET}); for that one:`);
          } else if (unix) {
            detail.push(existsSync(socket) ? `${socket} is there, but nothing answers on it` : `there is no socket at ${socket}`);
          }
          fix.push(...startPcscdFix(host));
          return { verdict: 'fail', summary: `${service} is not running${where}, so no card can be reached`, detail, fix };
        }
        case 'no-answer': {
          const pid = unix ? pcscdPid(socket) : undefined;
          const state = pid === undefined ? undefined : processState(pid);
          const stopped = state?.startsWith('T') === true || state?.startsWith('t') === true;
          const detail = [`${survey.call} did not come back within ${survey.ms / 1000} s; doctor went on without it`];
          if (pid !== undefined) detail.push(`pcscd is pid ${pid}${state === undefined ? '' : `, state ${state}`}`);
          let fix: string[];
          if (stopped) fix = ['pcscd is stopped (SIGSTOP, or a debugger holds it): let it go on with', `    sudo kill -CONT ${pid}`];
          else if (!unix) fix = [`restart ${service} (as administrator: Restart-Service SCardSvr)`, 'a reader whose driver hangs: unplug it and plug it in again'];
          else if (host.systemd && !custom) fix = ['restart it:', '    sudo systemctl restart pcscd.service', 'a reader whose driver hangs: unplug it and plug it in again'];
          else fix = [`stop pcscd${pid === undefined ? '' : ` (pid ${pid})`} and start it again`, 'a reader whose driver hangs: unplug it and plug it in again'];
          return { verdict: 'fail', summary: `${service} does not answer${where}: it is hung or stopped, so no card can be reached`, detail, fix };
        }
        case 'error':
          return { verdict: 'fail', summary: `${service} could not be asked: ${survey.message}` };
      }
    },
  };
}

/** pcscd (the Smart Card service) running and answering, and how to start it on this system. */
export const pcscdCheck = makePcscdCheck();
