/**
 * Runs one KeyringPinStore operation in a process of its own and prints the outcome as JSON.
 *
 * Why a child: the store runs exactly as in the daemon, on the session bus its process
 * environment names (DBUS_SESSION_BUS_ADDRESS), and with the kernel keyring of its own process,
 * leaving the test runner's environment alone.
 * Run with vite-node (TypeScript, no build): `vite-node keyring-store-child.ts -- OP IDENT`,
 * OP = get | set (PIN on stdin; answers where it went) | delete | location.
 */
import { readFileSync } from 'node:fs';
import { AgentError } from '../../../src/errors.js';
import { CardStateConfig, cardStateConfigPath } from '../../../src/pins/card-state-config.js';
import { KeyringPinStore, OsKeychain } from '../../../src/pins/keyring-pin-store.js';
import { Secret } from '../../../src/secret.js';

const [op, ident] = process.argv.slice(2).filter((a) => a !== '--');
const timeoutMs = Number(process.env['OCA_KEYCHAIN_TIMEOUT_MS'] ?? 5000);
const store = new KeyringPinStore({ backend: new OsKeychain(process.env, { timeoutMs }), config: new CardStateConfig(cardStateConfigPath(process.env)) });

async function run(): Promise<unknown> {
  if (ident === undefined) throw new Error('usage: OP IDENT');
  switch (op) {
    case 'get':
      return (await store.get(ident))?.revealString() ?? null;
    case 'set':
      return store.store(ident, new Secret(readFileSync(0, 'utf8')));
    case 'delete':
      return store.delete(ident);
    case 'location':
      return store.location(ident);
    default:
      throw new Error(`unknown op ${op}`);
  }
}

run().then(
  (value) => process.stdout.write(JSON.stringify({ ok: true, value }) + '\n'),
  (err: unknown) => {
    const e = err as Error;
    process.stdout.write(JSON.stringify({ ok: false, name: e.constructor.name, code: err instanceof AgentError ? err.code : undefined, message: e.message }) + '\n');
  },
);
