import { AgentError } from '../errors.js';
import { parseGpgArgs } from './args.js';
import { exportCertificate, gnupgFor, GPG_EXIT, listKeys, sign, verify } from './commands.js';
import type { GpgIo } from './io.js';

export const GPG_HELP = `Usage: openpgp-card-agent gpg [options]   (or openpgp-card-agent-gpg, for git's gpg.program)

OpenPGP signatures made by the card's signature key through the agent on SSH_AUTH_SOCK.

  -bsau KEY, --status-fd=N         sign stdin, detached, armored (what git asks for)
  --verify SIG [DATA|-]            verify: GnuPG when installed, else against the cards' own keys
  --export --uid "Name <email>" [--armor] [KEY]
                                   a certificate for the card's keys, signed on the card
  -K, --list-secret-keys           the plugged cards' signature keys

KEY: the signature key's fingerprint or key ID, or a user ID / e-mail of a certificate in
$OPENPGP_CARD_AGENT_CERTIFICATES (default ~/.config/openpgp-card-agent/certificates).

git config --global gpg.program openpgp-card-agent-gpg
git config --global user.signingkey FINGERPRINT
`;

/**
 * The gpg front end: parses gpg-style arguments and runs one command. Errors become one
 * "openpgp-card-agent gpg: ..." line on stderr and exit code 2, as gpg's errors do.
 */
export async function runGpg(argv: readonly string[], io: GpgIo, findOnPath: (name: string) => string | undefined): Promise<number> {
  try {
    const args = parseGpgArgs(argv);
    switch (args.command) {
      case 'sign':
        return await sign(args, io);
      case 'verify':
        return await verify(args, io, gnupgFor(io, findOnPath));
      case 'export':
        return await exportCertificate(args, io);
      case 'list-keys':
        return await listKeys(args, io);
      case 'version':
        await io.writeStdout('openpgp-card-agent gpg (an OpenPGP card signer for git; not GnuPG)\n');
        return GPG_EXIT.OK;
      case 'help':
        await io.writeStdout(GPG_HELP);
        return GPG_EXIT.OK;
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await io.writeStderr(`openpgp-card-agent gpg: ${err instanceof AgentError ? '' : 'internal error: '}${message}\n`);
    return GPG_EXIT.ERROR;
  }
}
