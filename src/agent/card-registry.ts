import { EventEmitter } from 'node:events';
import type { CardTransport } from '../card/transport.js';
import { OpenPgpCard } from '../card/openpgp/openpgp-card.js';
import type { CardPublicKey } from '../card/openpgp/public-key.js';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { sha256Fingerprint } from '../ssh/fingerprint.js';
import { equalBytes } from '../wire/bytes.js';
import { sshKeyBlobOf } from './card-ssh.js';
import { SerialQueue } from './serial-queue.js';

/** One plugged card, with what we read from it once and keep until it goes away. */
export interface CardEntry {
  readonly reader: string;
  readonly ident: string;
  readonly card: OpenPgpCard;
  readonly transport: CardTransport;
  /** The authentication key, or undefined when the slot is empty or unusable for SSH. */
  readonly publicKey: CardPublicKey | undefined;
  readonly keyBlob: Uint8Array | undefined;
  readonly fingerprint: string | undefined;
  /** Why the key is not offered, when it is not. */
  readonly unusable: string | undefined;
  /** All card operations go through here, one at a time. */
  readonly queue: SerialQueue;
  /** PW1 (mode 82) verified on the current connection; dropped on reset and on 6982. */
  pinVerified: boolean;
}

export interface CardRegistryEvents {
  added: [CardEntry];
  removed: [CardEntry];
}

/**
 * The plugged cards, keyed by reader. Application data and the public key are read once when a
 * card arrives, so listing keys costs no APDU; a monitor event drops the entry.
 */
export class CardRegistry extends EventEmitter<CardRegistryEvents> {
  private readonly byReader = new Map<string, CardEntry>();

  constructor(private readonly log: Logger) {
    super();
  }

  /** Opens the card on `transport` (SELECT + 6E + the public key) and adds it. */
  async attach(reader: string, transport: CardTransport): Promise<CardEntry> {
    this.detach(reader);
    const trace = this.log.isLevelEnabled('trace');
    const card = await OpenPgpCard.open(transport, {
      // APDUs at trace; the channel has already blanked PIN-carrying commands.
      ...(trace ? { tracer: (direction: 'command' | 'response', bytes: Uint8Array) => this.log.trace({ reader, direction, apdu: Buffer.from(bytes).toString('hex') }, 'apdu') } : {}),
    });
    let publicKey: CardPublicKey | undefined;
    let unusable: string | undefined;
    let keyBlob: Uint8Array | undefined;
    try {
      publicKey = await card.readAuthPublicKey();
      keyBlob = sshKeyBlobOf(publicKey);
    } catch (err) {
      unusable = err instanceof Error ? err.message : String(err);
      publicKey = undefined;
    }
    const entry: CardEntry = {
      reader,
      ident: card.ident,
      card,
      transport,
      publicKey,
      keyBlob,
      fingerprint: keyBlob === undefined ? undefined : sha256Fingerprint(keyBlob),
      unusable,
      queue: new SerialQueue(),
      pinVerified: false,
    };
    this.byReader.set(reader, entry);
    if (unusable === undefined) {
      this.log.info({ ident: entry.ident, reader, fingerprint: entry.fingerprint }, 'card added');
    } else {
      this.log.warn({ ident: entry.ident, reader, reason: unusable }, 'card added, but its authentication key is not usable for SSH');
    }
    this.emit('added', entry);
    return entry;
  }

  /** Drops the card in `reader` (removed, or its reader went away). */
  detach(reader: string): void {
    const entry = this.byReader.get(reader);
    if (entry === undefined) return;
    this.byReader.delete(reader);
    this.log.info({ ident: entry.ident, reader }, 'card removed');
    void entry.transport.close().catch(() => undefined);
    this.emit('removed', entry);
  }

  list(): CardEntry[] {
    return [...this.byReader.values()];
  }

  findByKeyBlob(blob: Uint8Array): CardEntry | undefined {
    return this.list().find((e) => e.keyBlob !== undefined && equalBytes(e.keyBlob, blob));
  }

  /** ssh-add -s/-e name a card by ident ("0006:12345678"); case and a "cardno:" prefix don't matter. */
  findByIdent(ident: string): CardEntry | undefined {
    const want = normalizeIdent(ident);
    return this.list().find((e) => normalizeIdent(e.ident) === want);
  }

  async closeAll(): Promise<void> {
    for (const reader of [...this.byReader.keys()]) this.detach(reader);
  }
}

export function normalizeIdent(ident: string): string {
  return ident.trim().replace(/^cardno:/i, '').replace('_', ':').toUpperCase();
}

/** An unknown ident names the plugged ones, so the user can correct it. */
export class UnknownCardError extends AgentError {
  override readonly code = 'E_UNKNOWN_CARD';
}
