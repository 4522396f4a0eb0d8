import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EXIT } from '../exit-codes.js';
import { buildProgram, EXAMPLES } from '../program.js';
import { packageVersion } from '../version.js';
import { commandTree } from './command-tree.js';
import { bashCompletion, fishCompletion, zshCompletion } from './completions.js';
import { manPage } from './man-page.js';

/*
 * Build step (npm run build): the man page and the bash, zsh and fish completions, generated
 * from the commander definitions into dist/man and dist/completions.
 *   node dist/cli/docs/generate.js OUTDIR
 */

const DESCRIPTION = `openpgp-card-agent is an ssh-agent whose keys live on OpenPGP smartcards (YubiKey, Nitrokey, Gnuk, SmartPGP, OpenPGP card 3.x). Start it once, point SSH_AUTH_SOCK at it, and ssh, git and scp authenticate with the authentication key of the card that is plugged in, through pcscd. No gpg-agent, no scdaemon.

ssh-add -L lists each card's authentication key with the card's ident as comment; ssh-add -s IDENT gives the card's User PIN (checked on the card, then kept in the OS keychain); ssh-add -e IDENT forgets it.

The options -a, -s, -c, -k and -D are those of ssh-agent(1). Without -D, -s or -c the agent stays in the foreground, unless its output is captured (eval "$(openpgp-card-agent)"): then it starts in the background as with -s.`;

const ENVIRONMENT = `SSH_AUTH_SOCK, SSH_AGENT_PID
  Set by -s and -c; read by ssh, ssh-add and git. -k reads SSH_AGENT_PID.
DEBUG, RUST_LOG
  Log levels as env_logger directives: LEVEL or TARGET=LEVEL, comma-separated. DEBUG is read first; a value with nothing for this program in it (DEBUG=express:*) is ignored with one warning.
XDG_RUNTIME_DIR
  The default socket is $XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock.
XDG_STATE_HOME
  Where --simulate keeps its virtual card.
LISTEN_FDS, LISTEN_PID
  systemd socket activation: the agent serves the passed socket.
JOURNAL_STREAM
  When it names stderr, log lines carry journald priorities (<3>, <4>, <6>, <7>).
NO_COLOR
  No colours in log lines on a terminal.`;

const FILES = `$XDG_RUNTIME_DIR/openpgp-card-agent/agent.sock
  The default socket (without XDG_RUNTIME_DIR: /tmp/openpgp-card-agent-UID/agent.sock).
agent.pid, agent.log beside the socket
  The running agent's pid; the log of an agent started with -s or -c (appended, rotated at 1 MiB, three old files kept as agent.log.1 to agent.log.3).
~/.config/systemd/user/openpgp-card-agent.socket, openpgp-card-agent.service
  Written by service install on Linux.
~/Library/LaunchAgents/openpgp-card-agent.plist
  Written by service install on macOS.
%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\openpgp-card-agent.vbs
  Written by service install on Windows.`;

function exitStatus(): string {
  const why: Record<keyof typeof EXIT, string> = {
    OK: 'success',
    FAILURE: 'failure (also a failed -k)',
    USAGE: 'bad command line or configuration',
    ALREADY_RUNNING: 'another agent already answers on the socket',
    CARD: 'card, reader or pcscd unreachable, or the card refused',
    PIN: 'PIN missing, wrong or blocked',
    KEYCHAIN: 'OS keychain unreachable',
    INTERNAL: 'a bug (an unexpected error)',
  };
  return `${(Object.keys(EXIT) as Array<keyof typeof EXIT>).map((k) => `${EXIT[k]}\n  ${why[k]}`).join('\n')}\n\ndoctor exits 1 when a check failed.`;
}

export async function generateDocs(outDir: string): Promise<string[]> {
  const tree = commandTree(buildProgram());
  const examples = EXAMPLES.replace(/^\s*Examples:\n/, '')
    .split('\n')
    .map((l) => l.replace(/^ {2}/, ''))
    .join('\n')
    .trim();
  const files: Array<[string, string]> = [
    [
      join(outDir, 'man', 'man1', 'openpgp-card-agent.1'),
      manPage(tree, {
        version: packageVersion(),
        description: DESCRIPTION,
        sections: [
          ['Examples', examples],
          ['Environment', ENVIRONMENT],
          ['Files', FILES],
          ['Exit status', exitStatus()],
          ['See also', 'ssh-agent(1), ssh-add(1), ssh(1), pcscd(8), gpg-agent(1), scdaemon(1)'],
        ],
      }),
    ],
    [join(outDir, 'completions', 'openpgp-card-agent.bash'), bashCompletion(tree)],
    [join(outDir, 'completions', '_openpgp-card-agent'), zshCompletion(tree)],
    [join(outDir, 'completions', 'openpgp-card-agent.fish'), fishCompletion(tree)],
  ];
  for (const [path, text] of files) {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
  }
  return files.map(([p]) => p);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]).endsWith(join('cli', 'docs', 'generate.js'))) {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: node dist/cli/docs/generate.js OUTDIR\n');
    process.exit(2);
  }
  for (const p of await generateDocs(out)) process.stdout.write(`wrote ${p}\n`);
}
