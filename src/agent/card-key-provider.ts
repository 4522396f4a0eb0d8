import { CardStatusError, PinBlockedError, PinIncorrectError, PinRequiredError, TouchTimeoutError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Secret } from '../secret.js';
import type { Constraint, Identity, KeyProvider, RequestContext } from './key-provider.js';
import { signPlanFor } from './card-ssh.js';
import { UnknownCardError, type CardEntry, type CardRegistry } from './card-registry.js';

/** Where card PINs come from (the keychain facade in src/pins implements it). */
export interface PinSource {
  /** A PIN worth trying for this card; undefined when none is stored or the stored one is known bad. */
  get(ident: string): Promise<Secret | undefined>;
  /** The card accepted `pin` for ssh-add -s: keep it (in memory only, for `lifetimeSeconds`, when given). */
  remember(ident: string, pin: Secret, lifetimeSeconds: number | undefined): Promise<void>;
  /** The card rejected the stored PIN: never send it again. */
  rejected(ident: string): Promise<void>;
  /** ssh-add -e: forget every copy. */
  forget(ident: string): Promise<void>;
  /** Set by the provider: a PIN's lifetime (ssh-add -t) ran out. */
  onExpire?: ((ident: string) => void) | undefined;
}

export interface UserNotifier {
  notify(n: { title: string; message: string }): void;
}

export interface CardKeyProviderOptions {
  readonly registry: CardRegistry;
  readonly pins: PinSource;
  readonly log: Logger;
  readonly notifier?: UserNotifier;
  /** Asks the user to allow one signature (ssh-add -c). */
  readonly confirm?: (message: string) => Promise<boolean>;
  /** How long a signature may run before "touch your card" is shown. */
  readonly touchPromptAfterMs?: number;
}

const SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982;
const SW_SECURITY_ISSUE = 0x6600;

/**
 * Serves the authentication keys of the plugged cards. Steady state: a signature is one
 * INTERNAL AUTHENTICATE; when the card answers 6982 the PIN is verified once and the command
 * retried once. The PIN rules keep the card from ever being blocked by us.
 */
export class CardKeyProvider implements KeyProvider {
  private readonly confirmIdents = new Set<string>();

  constructor(private readonly opts: CardKeyProviderOptions) {
    // When an ssh-add -t lifetime ends, the card must stop signing too, not only the agent.
    opts.pins.onExpire = (ident) => {
      const entry = opts.registry.findByIdent(ident);
      if (entry === undefined) return;
      entry.pinVerified = false;
      void entry.queue
        .run(() => entry.card.resetPw1Status())
        .then(
          () => opts.log.info({ ident }, 'PIN lifetime ended; the card no longer signs without it'),
          (err: unknown) => opts.log.warn({ ident, err }, 'PIN lifetime ended, but the card could not reset its PIN status'),
        );
    };
  }

  async listIdentities(_ctx: RequestContext): Promise<Identity[]> {
    return this.opts.registry
      .list()
      .filter((e) => e.keyBlob !== undefined)
      .map((e) => ({ keyBlob: e.keyBlob!, comment: e.ident, ident: e.ident }));
  }

  async sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: RequestContext): Promise<Uint8Array | null> {
    const entry = this.opts.registry.findByKeyBlob(keyBlob);
    if (entry === undefined || entry.publicKey === undefined) return null;
    const plan = signPlanFor(entry.publicKey, flags);
    const host = ctx.sessions.at(-1)?.hostKeyFingerprint;
    if (this.confirmIdents.has(entry.ident)) await this.askConfirmation(entry, host);
    const raw = await entry.queue.run(async () => {
      try {
        return await this.withTouchPrompt(entry, host, () => entry.card.authenticate(data, plan.hash));
      } catch (err) {
        if (!(err instanceof CardStatusError) || err.sw !== SW_SECURITY_STATUS_NOT_SATISFIED) throw err;
        // The card wants PW1 (first use, a reset by another application, or a PIN reset).
        entry.pinVerified = false;
        await this.verifyStoredPin(entry);
        return await this.withTouchPrompt(entry, host, () => entry.card.authenticate(data, plan.hash));
      }
    });
    ctx.conn.log.debug({ ident: entry.ident, hash: plan.hash }, 'signed');
    return plan.toSshSignature(raw);
  }

  async addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], ctx: RequestContext): Promise<void> {
    const entry = this.requireCard(readerId);
    let lifetime: number | undefined;
    let confirm = false;
    for (const c of constraints) {
      if (c.kind === 'lifetime') lifetime = c.seconds;
      else if (c.kind === 'confirm') confirm = true;
    }
    if (confirm && this.opts.confirm === undefined) {
      throw new PinRequiredError('confirmation (-c) was asked for, but there is no way to ask the user (set SSH_ASKPASS)');
    }
    await entry.queue.run(async () => {
      // A PIN the user just typed may use even the last try: the user chose to.
      try {
        await entry.card.verifyPw1(pin, 0x82);
      } catch (err) {
        entry.pinVerified = false;
        this.reportPinFailure(entry, err, false);
        throw err;
      }
      entry.pinVerified = true;
    });
    await this.opts.pins.remember(entry.ident, pin, lifetime);
    if (confirm) this.confirmIdents.add(entry.ident);
    else this.confirmIdents.delete(entry.ident);
    ctx.conn.log.info(
      { ident: entry.ident, lifetime, confirm },
      lifetime === undefined ? 'PIN verified by the card and stored' : 'PIN verified by the card and kept in memory',
    );
  }

  async removeSmartcardKey(readerId: string, _pin: Secret, ctx: RequestContext): Promise<void> {
    const entry = this.opts.registry.findByIdent(readerId);
    const ident = entry?.ident ?? readerId.trim().toUpperCase();
    if (entry === undefined && (await this.opts.pins.get(ident)) === undefined) {
      // Neither plugged nor remembered: nothing to forget, and probably a typo.
      this.requireCard(readerId);
    }
    await this.opts.pins.forget(ident);
    this.confirmIdents.delete(ident);
    if (entry !== undefined) {
      entry.pinVerified = false;
      // Also drop the card's own verified state, so the next signature needs a PIN again.
      await entry.queue.run(() => entry.card.resetPw1Status()).catch((err: unknown) => {
        ctx.conn.log.debug({ ident, err }, 'card could not reset its PIN status; it stays verified until reset or removal');
      });
    }
    ctx.conn.log.info({ ident }, 'PIN forgotten');
  }

  private requireCard(readerId: string): CardEntry {
    const entry = this.opts.registry.findByIdent(readerId);
    if (entry !== undefined) return entry;
    const plugged = this.opts.registry.list().map((e) => e.ident);
    throw new UnknownCardError(
      `no card "${readerId}" is plugged in; ${plugged.length === 0 ? 'no cards are plugged in' : `plugged: ${plugged.join(', ')}`}`,
    );
  }

  /** Verifies PW1 with the stored PIN, following the rules that keep the card from blocking. */
  private async verifyStoredPin(entry: CardEntry): Promise<void> {
    const pin = await this.opts.pins.get(entry.ident);
    if (pin === undefined) {
      const message = `card ${entry.ident} needs its PIN: run  ssh-add -s ${entry.ident}`;
      this.opts.notifier?.notify({ title: 'PIN needed', message });
      throw new PinRequiredError(message);
    }
    const retries = await entry.card.pw1Retries();
    if (retries === 0) {
      const message = blockedMessage(entry.ident);
      this.opts.notifier?.notify({ title: 'Card blocked', message });
      throw new PinBlockedError(message, 0x6983);
    }
    if (retries <= 1) {
      // Only a PIN the user types now may use the last try.
      const message = `card ${entry.ident} has ${retries} PIN try left; the agent will not risk it with a stored PIN. Run  ssh-add -s ${entry.ident}`;
      this.opts.notifier?.notify({ title: 'PIN not sent', message });
      throw new PinRequiredError(message);
    }
    try {
      await entry.card.verifyPw1(pin, 0x82);
      entry.pinVerified = true;
    } catch (err) {
      this.reportPinFailure(entry, err, true);
      if (err instanceof PinIncorrectError) await this.opts.pins.rejected(entry.ident);
      throw err;
    }
  }

  private reportPinFailure(entry: CardEntry, err: unknown, stored: boolean): void {
    if (err instanceof PinIncorrectError) {
      const message = `${stored ? 'the stored PIN' : 'the PIN'} for card ${entry.ident} is wrong; ${err.retriesLeft} tries left${
        stored ? `. It will not be tried again: run  ssh-add -s ${entry.ident}` : ''
      }`;
      this.opts.log.warn({ ident: entry.ident, retriesLeft: err.retriesLeft }, message);
      this.opts.notifier?.notify({ title: 'Wrong PIN', message });
    } else if (err instanceof PinBlockedError) {
      const message = blockedMessage(entry.ident);
      this.opts.log.error({ ident: entry.ident }, message);
      this.opts.notifier?.notify({ title: 'Card blocked', message });
    }
  }

  private async askConfirmation(entry: CardEntry, host: string | undefined): Promise<void> {
    const ok = await this.opts.confirm!(`Allow use of card key ${entry.ident}${host === undefined ? '' : ` for host key ${host}`}?`);
    if (!ok) throw new PinRequiredError(`signature with card ${entry.ident} not confirmed by the user`);
  }

  private async withTouchPrompt<T>(entry: CardEntry, host: string | undefined, op: () => Promise<T>): Promise<T> {
    const notifier = this.opts.notifier ?? { notify: () => undefined };
    const timer = setTimeout(() => {
      notifier.notify({ title: 'Touch your card', message: `Touch your card ${entry.ident}${host === undefined ? '' : ` (for ${host})`}` });
    }, this.opts.touchPromptAfterMs ?? 500);
    timer.unref();
    try {
      return await op();
    } catch (err) {
      // OpenPGP card 3.4.1 reserves 6600 for the user interaction flag: no touch in time.
      if (err instanceof CardStatusError && err.sw === SW_SECURITY_ISSUE) {
        throw new TouchTimeoutError(`card ${entry.ident} was not touched in time; the signature was not made`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function blockedMessage(ident: string): string {
  return (
    `the PIN of card ${ident} is blocked. Unblock it with the Reset Code (gpg --card-edit, then "unblock") ` +
    `or the Admin PIN (gpg --card-edit, "admin", "passwd", "2"), or factory-reset the card`
  );
}
