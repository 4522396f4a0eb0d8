import { getLogger } from '../log.js';
import { fdKind } from '../os/service-manager.js';
import { EXIT } from './exit-codes.js';
import { PROCESS_TITLE } from './pid-file.js';
import { run } from './program.js';

/** Writes and waits for the write, so nothing is lost when the process exits right after. */
function writer(stream: NodeJS.WriteStream): (text: string) => Promise<void> {
  return (text) => new Promise((resolve) => stream.write(text, () => resolve()));
}

function fatal(kind: string, err: unknown): never {
  getLogger('cli').fatal({ err }, kind);
  process.stderr.write(`openpgp-card-agent: internal error (${kind}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EXIT.INTERNAL);
}

process.on('uncaughtException', (err) => fatal('uncaught exception', err));
process.on('unhandledRejection', (err) => fatal('unhandled rejection', err));
// `ps` shows the agent by name, and a pid file can be checked against /proc/PID/cmdline.
process.title = PROCESS_TITLE;

const code = await run(process.argv.slice(2), {
  env: process.env,
  isTty: process.stderr.isTTY === true,
  stdoutKind: fdKind(1, process.stdout.isTTY === true),
  stdout: writer(process.stdout),
  stderr: writer(process.stderr),
});
// A PC/SC thread blocked in C (pcscd hung) would make process.exit() wait for ever. Imported
// here, not up front: the modules are already loaded when a PC/SC thread ran.
const { PcscThread } = await import('../card/pcsc/pcsc-thread.js');
if (PcscThread.anyRunning()) (await import('../os/hard-exit.js')).hardExit(code);
process.exit(code);
