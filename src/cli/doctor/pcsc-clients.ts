import { basename } from 'node:path';
import { gnupgHome } from '../../gpg/gnupg-home.js';
import { mappedFiles, processArgv, processComm, processEnviron, processIds } from '../../os/procfs.js';
import { PROCESS_TITLE } from '../pid-file.js';

/** pcsc-lite's client socket when PCSCLITE_CSOCK_NAME does not name another (pcsclite.h, USE_IPCDIR /run/pcscd). */
export const PCSCLITE_DEFAULT_SOCKET = '/run/pcscd/pcscd.comm';

/** The pcscd socket a process with this environment talks to (libpcsclite reads PCSCLITE_CSOCK_NAME). */
export function pcscSocketFor(env: NodeJS.ProcessEnv): string {
  const s = env['PCSCLITE_CSOCK_NAME'];
  return s !== undefined && s !== '' ? s : PCSCLITE_DEFAULT_SOCKET;
}

/** A running program that has the PC/SC library loaded. */
export interface PcscClient {
  readonly pid: number;
  /** The program's name (argv[0]'s base name, else comm). */
  readonly name: string;
  readonly argv: readonly string[];
  /** Its environment, when readable (our own processes; all of them for root). */
  readonly env: NodeJS.ProcessEnv | undefined;
}

/**
 * The processes (Linux /proc) that have libpcsclite loaded and talk to the pcscd at `socket`,
 * other than this process and openpgp-card-agent (which opens cards shared): the candidates for
 * "which program holds the card exclusively", since pcscd itself does not say. A process whose
 * environment cannot be read is kept (it may use that pcscd).
 */
export function pcscClients(socket: string, procRoot = '/proc'): PcscClient[] {
  const out: PcscClient[] = [];
  for (const pid of processIds(procRoot)) {
    if (pid === process.pid || !mapsPcscLite(pid, procRoot)) continue;
    const argv = processArgv(pid, procRoot) ?? [];
    if (argv[0] === PROCESS_TITLE) continue;
    const env = processEnviron(pid, procRoot);
    if (env !== undefined && pcscSocketFor(env) !== socket) continue;
    out.push({ pid, name: argv[0] !== undefined ? basename(argv[0]) : (processComm(pid, procRoot) ?? '?'), argv, env });
  }
  return out;
}

function mapsPcscLite(pid: number, procRoot: string): boolean {
  return mappedFiles(pid, procRoot)?.some((path) => /\/libpcsclite\.so[.\d]*$/.test(path)) ?? false;
}

/** The GnuPG home a running scdaemon uses: its --homedir, else its GNUPGHOME, else ~/.gnupg of its HOME. */
export function scdaemonHome(client: PcscClient): string | undefined {
  const i = client.argv.indexOf('--homedir');
  if (i >= 0 && client.argv[i + 1] !== undefined) return client.argv[i + 1];
  const eq = client.argv.find((a) => a.startsWith('--homedir='));
  if (eq !== undefined) return eq.slice('--homedir='.length);
  const h = client.env?.['HOME'];
  return gnupgHome(client.env ?? {}, h !== undefined && h !== '' ? h : undefined);
}
