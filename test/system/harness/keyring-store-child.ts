/**
 * Runs one KeyringPinStore operation in a process of its own and prints the outcome as JSON.
 *
 * Why a child: keyring-rs (under @napi-rs/keyring) finds the session bus through
 * DBUS_SESSION_BUS_ADDRESS in the environment of the process making the call, so a test that
 * wants the store on its private gnome-keyring (or on no bus at all) runs the store in a child
 * with that environment, leaving the test runner's own environment alone.
 * Run with vite-node (TypeScript, no build): `vite-node keyring-store-child.ts -- OP IDENT`,
 * OP = get | set (PIN on stdin) | delete | location.
 */
import { readFileSync } from 'node:fs';
import { AgentError } from '../../../src/errors.js';
import { CardStateConfig, cardStateConfigPath } from '../../../src/pins/card-state-config.js';
import { KeyringPinStore, NapiKeyringBackend } from '../../../src/pins/keyring-pin-store.js';
import { Secret } from '../../../src/secret.js';

const [op, ident] = process.argv.slice(2).filter((a) => a !== '--');
const timeoutMs = Number(process.env['OCA_KEYCHAIN_TIMEOUT_MS'] ?? 5000);
const store = new KeyringPinStore({ backend: new NapiKeyringBackend(timeoutMs), config: new CardStateConfig(cardStateConfigPath(process.env)) });

async function run(): Promise<unknown> {
  if (ident === undefined) throw new Error('usage: OP IDENT');
  switch (op) {
    case 'get':
      return (await store.get(ident))?.revealString() ?? null;
    case 'set':
      await store.set(ident, new Secret(readFileSync(0, 'utf8')));
      return true;
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
