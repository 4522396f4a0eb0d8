import { join } from 'node:path';

/**
 * GnuPG's home directory, where gpg, gpg-agent and scdaemon keep their files (gpg-agent.conf,
 * scdaemon.conf, the keyrings): GNUPGHOME when it is set and not empty, else `home`/.gnupg
 * (GnuPG's default on unix; common/homedir.c). `home` is the home directory as the caller knows
 * it; without one (another process's environment that has no HOME) only GNUPGHOME can answer.
 */
export function gnupgHome(env: NodeJS.ProcessEnv, home: string): string;
export function gnupgHome(env: NodeJS.ProcessEnv, home: string | undefined): string | undefined;
export function gnupgHome(env: NodeJS.ProcessEnv, home: string | undefined): string | undefined {
  const g = env['GNUPGHOME'];
  if (g !== undefined && g !== '') return g;
  return home === undefined ? undefined : join(home, '.gnupg');
}
