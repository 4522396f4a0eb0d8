import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gnupgHome } from '../../gpg/gnupg-home.js';
import { probeSocket } from '../../server/unix-socket.js';
import type { DoctorCheck, DoctorContext, Finding } from './check.js';
import { pcscSocketFor, scdaemonHome, type PcscClient } from './pcsc-clients.js';

/** The lines scdaemon.conf needs so scdaemon shares the card through pcscd. */
export const SCDAEMON_LINES = ['pcsc-shared', 'disable-ccid'] as const;

/** The options set in a GnuPG config file (one per line; # comments). */
export function configOptions(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.add(line.split(/\s+/)[0]!.toLowerCase());
  }
  return out;
}

/** The scdaemon.conf options of a GnuPG home; undefined when it has no (readable) scdaemon.conf. */
export async function scdaemonOptions(home: string): Promise<Set<string> | undefined> {
  try {
    return configOptions(await readFile(join(home, 'scdaemon.conf'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** `gpgconf --kill scdaemon`, naming the GnuPG home when it is not the one this shell's gpg uses. */
export function killScdaemonCommand(home: string, ctx: DoctorContext): string {
  return home === gnupgHome(ctx.env, ctx.home) ? 'gpgconf --kill scdaemon' : `GNUPGHOME=${home} gpgconf --kill scdaemon`;
}

/** The fix for a scdaemon that keeps cards from others: the lines its scdaemon.conf lacks, then (if it runs) stop it. */
export function scdaemonFix(confPath: string, missing: readonly string[], killCommand?: string): string[] {
  return [
    `add ${missing.length === 1 ? 'this line' : 'these lines'} to ${confPath}:`,
    ...missing.map((l) => `    ${l}`),
    ...(killCommand === undefined ? [] : ['then stop the running scdaemon (gpg starts it again when needed):', `    ${killCommand}`]),
  ];
}

/** A running scdaemon on our pcscd whose scdaemon.conf lacks pcsc-shared: it opens cards exclusively. */
export interface ExclusiveScdaemon {
  readonly client: PcscClient;
  readonly home: string;
  readonly missing: readonly string[];
}

/** The scdaemons among `clients` that run without pcsc-shared (one whose home cannot be told is taken as ours). */
export async function exclusiveScdaemons(clients: readonly PcscClient[], ctx: DoctorContext): Promise<ExclusiveScdaemon[]> {
  const out: ExclusiveScdaemon[] = [];
  for (const client of clients) {
    if (client.name !== 'scdaemon') continue;
    const home = scdaemonHome(client) ?? gnupgHome(ctx.env, ctx.home);
    const options = (await scdaemonOptions(home)) ?? new Set<string>();
    if (options.has('pcsc-shared')) continue;
    out.push({ client, home, missing: SCDAEMON_LINES.filter((l) => !options.has(l)) });
  }
  return out;
}

/** Where this GnuPG home's scdaemon listens (gpgconf --list-dirs socketdir + S.scdaemon), if gpgconf is there. */
async function scdaemonSocket(ctx: DoctorContext, home: string): Promise<string | undefined> {
  const r = await ctx.exec('gpgconf', ['--list-dirs', 'socketdir'], { env: { ...ctx.env, GNUPGHOME: home } });
  if (r === undefined || r.code !== 0) return undefined;
  const dir = r.stdout.trim();
  return dir === '' ? undefined : join(dir, 'S.scdaemon');
}

/**
 * GnuPG's scdaemon opens the card exclusively unless told `pcsc-shared`, and with its own CCID
 * driver (without `disable-ccid`) it takes the USB reader away from pcscd altogether. Either
 * way this agent cannot reach the card while scdaemon runs.
 */
export const scdaemonCheck: DoctorCheck = {
  id: 'scdaemon',
  title: 'scdaemon',
  async run(ctx): Promise<Finding> {
    if (ctx.platform === 'win32') return { verdict: 'skip', summary: "GnuPG's scdaemon on Windows is not checked" };
    const home = gnupgHome(ctx.env, ctx.home);
    const confPath = join(home, 'scdaemon.conf');
    const read = await scdaemonOptions(home);
    const hasConf = read !== undefined;
    const options = read ?? new Set<string>();
    const missing = SCDAEMON_LINES.filter((l) => !options.has(l));
    const socket = await scdaemonSocket(ctx, home);
    const running = socket !== undefined && (await probeSocket(socket, 1000).catch(() => 'absent')) === 'alive';
    if (!(running && missing.length > 0)) {
      // A scdaemon of another GnuPG home (gpg run with another GNUPGHOME or --homedir) on the same pcscd.
      const other = (await exclusiveScdaemons(ctx.pcscClients(pcscSocketFor(ctx.env)), ctx)).find((s) => s.home !== home);
      if (other !== undefined) {
        const otherConf = join(other.home, 'scdaemon.conf');
        return {
          verdict: 'fail',
          summary: `a scdaemon (pid ${other.client.pid}) of the GnuPG home ${other.home} is running without ${other.missing.join(' and ')}: it takes cards exclusively, so this agent cannot use them`,
          detail: [`it uses the same pcscd (${pcscSocketFor(ctx.env)})`],
          fix: scdaemonFix(otherConf, other.missing, killScdaemonCommand(other.home, ctx)),
        };
      }
    }
    if (missing.length === 0) {
      return { verdict: 'ok', summary: `scdaemon.conf has ${SCDAEMON_LINES.join(' and ')}: scdaemon shares the card`, detail: [confPath] };
    }
    if (running) {
      return {
        verdict: 'fail',
        summary: `scdaemon is running without ${missing.join(' and ')}: it holds the card exclusively, so this agent cannot use it`,
        detail: [`${socket} answers; ${hasConf ? `${confPath} lacks ${missing.join(', ')}` : `there is no ${confPath}`}`],
        fix: scdaemonFix(confPath, missing, killScdaemonCommand(home, ctx)),
      };
    }
    if (socket === undefined && !hasConf) return { verdict: 'ok', summary: 'GnuPG is not set up here (no gpgconf, no scdaemon.conf)' };
    return {
      verdict: 'ok',
      summary: 'scdaemon is not running',
      detail: [`if you also use the card with gpg, scdaemon will take it exclusively: ${confPath} lacks ${missing.join(', ')}`],
      fix: scdaemonFix(confPath, missing),
    };
  },
};
