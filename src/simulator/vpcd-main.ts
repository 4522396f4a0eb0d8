import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { setRootLogger, getLogger } from '../log.js';
import { SIM_ALGORITHMS, type SimAlgorithm } from './card-keys.js';
import { VirtualCard } from './virtual-card.js';
import { VpcdBridge } from './vpcd-bridge.js';

/**
 * One virtual card in its own process, plugged into pcscd through vpcd:
 *   node dist/simulator/vpcd-main.js --port 35963 --state card.json [--algo ed25519] [--sign-algo A]
 *     [--short] [--kdf] [--touch] [--auto-touch-ms N] [--host 127.0.0.1]
 * --algo is the authentication key's algorithm; --sign-algo the signature key's (default: --algo).
 * SIGUSR1 touches the card; SIGTERM pulls it out and exits.
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    state: { type: 'string' },
    algo: { type: 'string', default: 'ed25519' },
    'sign-algo': { type: 'string' },
    short: { type: 'boolean', default: false },
    kdf: { type: 'boolean', default: false },
    touch: { type: 'boolean', default: false },
    'auto-touch-ms': { type: 'string' },
    'touch-timeout-ms': { type: 'string' },
  },
});

if (values.port === undefined || values.state === undefined) {
  process.stderr.write('usage: vpcd-main --port PORT --state FILE [--algo A] [--sign-algo A] [--short] [--kdf] [--touch] [--auto-touch-ms N]\n');
  process.exit(2);
}
for (const [flag, algo] of [['--algo', values.algo], ['--sign-algo', values['sign-algo'] ?? values.algo]] as const) {
  if (!SIM_ALGORITHMS.includes(algo as SimAlgorithm)) {
    process.stderr.write(`unknown ${flag} ${algo}; one of ${SIM_ALGORITHMS.join(', ')}\n`);
    process.exit(2);
  }
}

setRootLogger(pino({ level: process.env['DEBUG'] === undefined ? 'info' : 'debug' }, pino.destination(2)));
const log = getLogger('simulator');
const card = await VirtualCard.loadOrCreate(values.state, {
  authAlgorithm: values.algo as SimAlgorithm,
  signAlgorithm: (values['sign-algo'] ?? values.algo) as SimAlgorithm,
  extendedLength: !values.short,
  kdf: values.kdf,
  touch: { aut: values.touch },
  ...(values['auto-touch-ms'] === undefined ? {} : { autoTouchMs: Number(values['auto-touch-ms']) }),
  ...(values['touch-timeout-ms'] === undefined ? {} : { touchTimeoutMs: Number(values['touch-timeout-ms']) }),
});
const bridge = new VpcdBridge(card, Number(values.port), values.host, log);
bridge.start();
log.info({ ident: card.ident, port: Number(values.port) }, 'virtual card ready');
process.on('SIGUSR1', () => card.touch());
// SIGUSR2: write how many APDUs the card has processed to STATE.apdus (for the benchmark).
process.on('SIGUSR2', () => {
  writeFileSync(`${values.state!}.apdus`, String(card.apduCount));
});
const stop = (): void => {
  void bridge.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
