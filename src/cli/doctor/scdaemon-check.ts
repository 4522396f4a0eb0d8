import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeSocket } from '../../server/unix-socket.js';
import type { DoctorCheck, DoctorContext, Finding } from './check.js';

/** The lines scdaemon.conf needs so scdaemon shares the card through pcscd. */
export const SCDAEMON_LINES = ['pcsc-shared', 'disable-ccid'] as const;

/** GnuPG's home: GNUPGHOME, else ~/.gnupg. */
export function gnupgHome(ctx: DoctorContext): string {
  const h = ctx.env['GNUPGHOME'];
  return h !== undefined && h !== '' ? h : join(ctx.home, '.gnupg');
}

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
    const home = gnupgHome(ctx);
    const confPath = join(home, 'scdaemon.conf');
    let options = new Set<string>();
    let hasConf = true;
    try {
      options = configOptions(await readFile(confPath, 'utf8'));
    } catch {
      hasConf = false;
    }
    const missing = SCDAEMON_LINES.filter((l) => !options.has(l));
    const socket = await scdaemonSocket(ctx, home);
    const running = socket !== undefined && (await probeSocket(socket, 1000).catch(() => 'absent')) === 'alive';
    const fix = [`add ${missing.length === 1 ? 'this line' : 'these lines'} to ${confPath}:`, ...missing.map((l) => `    ${l}`)];
    if (missing.length === 0) {
      return { verdict: 'ok', summary: `scdaemon.conf has ${SCDAEMON_LINES.join(' and ')}: scdaemon shares the card`, detail: [confPath] };
    }
    if (running) {
      return {
        verdict: 'fail',
        summary: `scdaemon is running without ${missing.join(' and ')}: it holds the card exclusively, so this agent cannot use it`,
        detail: [`${socket} answers; ${hasConf ? `${confPath} lacks ${missing.join(', ')}` : `there is no ${confPath}`}`],
        fix: [...fix, 'then stop the running scdaemon (gpg starts it again when needed):', '    gpgconf --kill scdaemon'],
      };
    }
    if (socket === undefined && !hasConf) return { verdict: 'ok', summary: 'GnuPG is not set up here (no gpgconf, no scdaemon.conf)' };
    return {
      verdict: 'ok',
      summary: 'scdaemon is not running',
      detail: [`if you also use the card with gpg, scdaemon will take it exclusively: ${confPath} lacks ${missing.join(', ')}`],
      fix,
    };
  },
};
