import { runGpgCommand } from './commands/gpg.js';

// The entry of bin/openpgp-card-agent-gpg (git's gpg.program): only the gpg front end is
// loaded, not the daemon's PC/SC and keychain modules, so each git signature starts quickly.
process.exit(await runGpgCommand(process.argv.slice(2), process.env));
