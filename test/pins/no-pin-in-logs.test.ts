import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRootLogger, setRootLogger } from '../../src/log.js';
import { CardStateConfig } from '../../src/pins/card-state-config.js';
import { KeyringPinStore } from '../../src/pins/keyring-pin-store.js';
import { PinRegistry } from '../../src/pins/pin-registry.js';
import { Secret } from '../../src/secret.js';
import { MapKeyring } from './fakes.js';

const PIN = '73915824';

describe('PINs never reach the log', () => {
  let lines: string;

  beforeEach(() => {
    lines = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines += chunk.toString('utf8');
        cb();
      },
    });
    setRootLogger(createRootLogger({ defaultLevel: 'trace', targets: new Map() }, false, sink));
    vi.useFakeTimers();
  });
  afterEach(() => {
    setRootLogger(pino({ level: 'silent' }));
    vi.useRealTimers();
  });

  it('through every registry path at trace level, including keychain failures', async () => {
    const keyring = new MapKeyring();
    // A config path under a regular file: every write fails, even as root.
    const config = new CardStateConfig(join(fileURLToPath(import.meta.url), 'openpgp-card-state', 'config.toml'));
    const pins = new PinRegistry({ persistent: new KeyringPinStore({ backend: keyring, config }) });
    const ident = '0006:12345678';
    await pins.set(ident, new Secret(PIN)); // config write fails: logged
    await pins.set(ident, new Secret(PIN), { lifetimeSeconds: 5 });
    vi.advanceTimersByTime(5000);
    keyring.down = true;
    await pins.set(ident, new Secret(PIN)); // kept in memory: logged
    await pins.markBad(ident); // keychain delete fails: logged
    await pins.get(ident);
    expect(lines).toContain('kept in memory');
    expect(lines).toContain('could not remove the rejected PIN');
    expect(lines).toContain('could not be recorded');
    expect(lines).not.toContain(PIN);
    expect(lines).not.toContain(Buffer.from(PIN).toString('hex'));
  });
});
