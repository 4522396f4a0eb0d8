import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CardSession, SessionContext } from '../card/card-session.js';
import { readCardKeys, readSignatureCounter, signDigest as pskSignDigest, type CardOpenPgpKeys, type CardSlotKey } from '../card/openpgp/signature-key.js';
import { PW1_81, PW1_82, PW1_MIN_LENGTH } from '../card/openpgp/openpgp-card.js';
import { describeAlgorithm, type CardPublicKey } from '../card/openpgp/public-key.js';
import {
  AgentError,
  ForeignApplicationError,
  KeychainError,
  PinBlockedError,
  PinRejectedError,
  PinRequiredError,
  SecurityIssueError,
  SecurityStatusNotSatisfiedError,
  TouchTimeoutError,
} from '../errors.js';
import type { Logger } from '../log.js';
import { blockedMessage, decideStoredPin, wrongPinMessage, type PinOrigin } from '../pins/policy.js';
import type { Secret } from '../secret.js';
import type { PinAnswer, PinPrompt } from '../notify/pin-prompt.js';
import type { PinSource } from '../pins/pin-source.js';
import { sha256Fingerprint } from '../ssh/fingerprint.js';
import { sshSignatureVerifier } from '../ssh/verify.js';
import { equalBytes } from '../wire/bytes.js';
import type { CardManager } from './card-manager.js';
import { UnknownCardError } from './card-manager.js';
import { signPlanFor, sshKeyBlobOf, sshUnusableReason } from './card-ssh.js';
import type { Constraint, Identity, KeyProvider, RequestContext } from './key-provider.js';
import { describePeer } from '../server/frame-handler.js';
import { DEFAULT_CARD_IDLE_LOCK_SECONDS } from './defaults.js';
import type { UserNotifier } from './ports.js';
import type { CardReport } from './status-report.js';
import type { OpenPgpKeyInfo, SignatureKey, SignatureKeySource, SigningHash } from './openpgp-signing.js';
import { HashAlgorithm } from '../openpgp/constants.js';
import { keyFromParts } from '../openpgp/key.js';
import { verifyRawSignature } from '../openpgp/verify.js';
import { hostLabel } from './session-bind.js';


export interface CardKeyProviderOptions {
  readonly cards: CardManager;
  readonly pins: PinSource;
  readonly log: Logger;
  readonly notifier?: UserNotifier;
  /** Asks the user to allow one signature (ssh-add -c). */
  readonly confirm?: (message: string) => Promise<boolean>;
  /** Why confirmations cannot be asked for now (no SSH_ASKPASS, no display), or undefined when they can. */
  readonly confirmUnavailable?: () => string | undefined;
  /**
   * Asks for a card's PIN when a signature needs it and none is stored (pinentry or
   * SSH_ASKPASS); undefined with --no-prompt.
   */
  readonly prompt?: PinPrompt;
  /** How long a signature may run before "touch your card" is shown. */
  readonly touchPromptAfterMs?: number;
  /**
   * After this long without a card operation the card is told to forget its verified PIN
   * (--card-idle-lock); 0 = right after every operation.
   */
  readonly idleLockMs?: number;
  /** A listing checks a card's keys again when they were last checked longer ago than this. */
  readonly listFreshnessMs?: number;
  /** How long a listing waits for that check before answering with what it has. */
  readonly listDeadlineMs?: number;
  /**
   * false for a process that only looks (status): it never tells a card to forget a PIN, since
   * the card may be verified for the running agent.
   */
  readonly lockCards?: boolean;
}

export { DEFAULT_CARD_IDLE_LOCK_SECONDS };
const DEFAULT_LIST_FRESHNESS_MS = 1000;

/** The most SSH signatures one card operation sends back to back (see authenticateQueued). */
const MAX_SERIES = 16;

type SignHash = Parameters<SessionContext['card']['authenticate']>[1];

/** An SSH signature waiting for its card, and what came of it. */
interface WaitingSignature {
  readonly message: Uint8Array;
  readonly hash: SignHash;
  readonly host: string | undefined;
  readonly resolve: (raw: Uint8Array) => void;
  readonly reject: (err: unknown) => void;
  raw: Uint8Array | undefined;
  error: unknown;
}
const DEFAULT_LIST_DEADLINE_MS = 25;

/**
 * Inside a card operation: PW1 must be verified and no stored PIN may be sent (none stored, or
 * the card has one try left). The provider asks the user outside the PC/SC transaction (a
 * prompt can take a minute; the card stays free for other programs meanwhile), or tells them
 * to run ssh-add -s.
 */
class NeedPinError extends AgentError {
  override readonly code = 'E_PIN_REQUIRED';
  constructor(
    message: string,
    readonly retriesLeft: number,
  ) {
    super(message);
  }
}

/** A signature made with a key the agent no longer had: the card's key changed under it. */
export class StaleKeyError extends AgentError {
  override readonly code = 'E_STALE_KEY';
}

const HASH_ID: Record<SigningHash, number> = { sha224: HashAlgorithm.SHA224, sha256: HashAlgorithm.SHA256, sha384: HashAlgorithm.SHA384, sha512: HashAlgorithm.SHA512 };
const SLOT_NAME = { sig: 'signature', dec: 'decryption', aut: 'authentication' } as const;

/** What SSH sees of a card session, recomputed when the session reads its keys again. */
interface SshView {
  readonly generation: number;
  readonly key: CardPublicKey | undefined;
  readonly keyBlob: Uint8Array | undefined;
  readonly fingerprint: string | undefined;
  readonly unusable: string | undefined;
  /** Checks an SSH signature by this key (the key parsed once). */
  readonly verify: (data: Uint8Array, signature: Uint8Array) => boolean;
}

/**
 * Serves the authentication keys of the plugged cards. Steady state: a signature is one
 * INTERNAL AUTHENTICATE; the PIN is verified when the card asks (6982) or when the agent knows
 * the card forgot it, under rules that keep the card from ever being blocked by us. Every
 * signature is checked against the key before it is handed out. The card's verified state is
 * taken back after `idleLockMs` without use, and on lock, forget, expiry and shutdown.
 */
export class CardKeyProvider implements KeyProvider, SignatureKeySource {
  private readonly confirmIdents = new Set<string>();
  /** The cards' OpenPGP keys (for PSO:CDS and certificates), read once per read of the card. */
  private readonly openPgpKeys = new WeakMap<CardSession, { generation: number; keys: Promise<CardOpenPgpKeys> }>();
  private readonly views = new WeakMap<CardSession, SshView>();
  private readonly idleTimers = new Map<CardSession, NodeJS.Timeout>();
  /** The last signature check queued (see checkInTurn). */
  private checks: Promise<void> = Promise.resolve();
  /** SSH signatures waiting for a card operation that has not started yet (see authenticateQueued). */
  private readonly waitingSignatures = new Map<CardSession, WaitingSignature[]>();
  private readonly idleLockMs: number;
  private closed = false;

  constructor(private readonly opts: CardKeyProviderOptions) {
    this.idleLockMs = opts.idleLockMs ?? DEFAULT_CARD_IDLE_LOCK_SECONDS * 1000;
    // When an ssh-add -t lifetime ends, the card must stop signing too, not only the agent.
    opts.pins.onExpire = (ident) => {
      const session = opts.cards.findByIdent(ident);
      if (session !== undefined) void this.lockCard(session, 'its PIN lifetime (ssh-add -t) ended');
    };
    // A card that comes in may still be verified by an earlier process: it gets the idle time too.
    opts.cards.on('added', (s) => this.armIdleLock(s));
    opts.cards.on('removed', (s) => this.disarm(s));
  }

  /** The SSH form of a session's key, cached per read of the card. */
  view(session: CardSession): SshView {
    const snap = session.snapshot;
    const cached = this.views.get(session);
    if (cached !== undefined && cached.generation === snap.generation) return cached;
    let view: SshView;
    const key = snap.authKey;
    if (key === undefined || key.kind === 'unsupported') {
      view = { generation: snap.generation, key: undefined, keyBlob: undefined, fingerprint: undefined, unusable: snap.authKeyProblem ?? 'no authentication key', verify: () => false };
    } else {
      const reason = sshUnusableReason(key);
      const keyBlob = reason === undefined ? sshKeyBlobOf(key) : undefined;
      view = {
        generation: snap.generation,
        key,
        keyBlob,
        fingerprint: keyBlob === undefined ? undefined : sha256Fingerprint(keyBlob),
        unusable: reason,
        verify: keyBlob === undefined ? () => false : sshSignatureVerifier(keyBlob),
      };
    }
    this.views.set(session, view);
    return view;
  }

  async listIdentities(_ctx: RequestContext): Promise<Identity[]> {
    const sessions = this.opts.cards.list();
    await Promise.all(sessions.map((s) => this.freshen(s)));
    const out: Identity[] = [];
    for (const s of sessions) {
      const v = this.view(s);
      if (v.keyBlob !== undefined) out.push({ keyBlob: v.keyBlob, comment: s.ident, ident: s.ident });
    }
    return out;
  }

  /**
   * Checks a card's keys when they were last checked a while ago (one GET DATA C5; a full read
   * when they changed or the card had none), so a key generated on a plugged card shows at the
   * next listing. Never holds a listing up for long: a busy card or a hung pcscd gets a short
   * deadline, and the check finishes in the background.
   */
  private async freshen(s: CardSession): Promise<void> {
    const maxAge = this.opts.listFreshnessMs ?? DEFAULT_LIST_FRESHNESS_MS;
    // Checked a moment ago (the usual case): nothing to wait for. A check already under way has
    // had its chance: the listing that started it waited for it.
    if (s.freshWithin(maxAge) || s.stuck || s.revalidating) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.opts.listDeadlineMs ?? DEFAULT_LIST_DEADLINE_MS);
      timer.unref();
    });
    const check = s.revalidate(maxAge).then(
      () => undefined,
      (err: unknown) => this.opts.log.debug({ ident: s.ident, err: (err as Error).message }, 'could not check the card keys'),
    );
    await Promise.race([check, deadline]);
    clearTimeout(timer);
  }

  identityFor(keyBlob: Uint8Array): Identity | undefined {
    const s = this.findByKeyBlob(keyBlob);
    return s === undefined ? undefined : { keyBlob: this.view(s).keyBlob!, comment: s.ident, ident: s.ident };
  }

  private findByKeyBlob(blob: Uint8Array): CardSession | undefined {
    return this.opts.cards.list().find((s) => {
      const b = this.view(s).keyBlob;
      return b !== undefined && equalBytes(b, blob);
    });
  }

  async sign(keyBlob: Uint8Array, data: Uint8Array, flags: number, ctx: RequestContext): Promise<Uint8Array | null> {
    const session = this.findByKeyBlob(keyBlob);
    if (session === undefined) return null;
    const view = this.view(session);
    const plan = signPlanFor(view.key!, flags);
    const host = hostOf(ctx);
    if (this.confirmIdents.has(session.ident)) await this.askConfirmation(session.ident, host, undefined, describePeer(ctx.conn.peer));
    this.disarm(session);
    try {
      const raw = await this.authenticateQueued(session, data, plan.hash, host);
      const signature = plan.toSshSignature(raw);
      // Never hand out a signature that does not verify: the card's key may have changed.
      if (!(await this.checkInTurn(() => view.verify(data, signature)))) await this.signatureMismatch(session, view);
      ctx.conn.log.debug({ ident: session.ident, hash: plan.hash }, 'signed');
      return signature;
    } finally {
      this.armIdleLock(session);
    }
  }

  /**
   * INTERNAL AUTHENTICATE of `message`, with the other SSH signatures waiting for the same card:
   * the next operation on the card takes every signature waiting by then (up to MAX_SERIES) and
   * sends them back to back in one PC/SC call, so concurrent clients keep the card busy instead of
   * waiting on the agent between signatures. Still one APDU per signature; PIN handling as withPin.
   */
  private authenticateQueued(session: CardSession, message: Uint8Array, hash: SignHash, host: string | undefined): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const item: WaitingSignature = { message, hash, host, resolve, reject, raw: undefined, error: undefined };
      const waiting = this.waitingSignatures.get(session);
      // An operation for this card is queued and has not started: it takes this one too.
      if (waiting !== undefined) waiting.push(item);
      else {
        this.waitingSignatures.set(session, [item]);
        void this.signWaiting(session, host);
      }
    });
  }

  /** One card operation for the signatures waiting for `session` when it starts (see authenticateQueued). */
  private async signWaiting(session: CardSession, host: string | undefined): Promise<void> {
    let series: WaitingSignature[] | undefined;
    // Taken when the operation first runs on the card (or fails before), never again: a retry of
    // the operation (PIN, reset) goes on with the same signatures.
    const take = (): WaitingSignature[] => {
      if (series !== undefined) return series;
      const waiting = this.waitingSignatures.get(session) ?? [];
      this.waitingSignatures.delete(session);
      series = waiting.splice(0, MAX_SERIES);
      if (waiting.length > 0) {
        this.waitingSignatures.set(session, waiting);
        void this.signWaiting(session, waiting[0]!.host);
      }
      return series;
    };
    try {
      await this.withPin(session, 'sign', PW1_82, false, host, (op) => this.authenticateSeries(session, op, take()));
    } catch (err) {
      for (const w of take()) if (w.raw === undefined && w.error === undefined) w.error = err;
    }
    for (const w of take()) {
      if (w.raw !== undefined) w.resolve(w.raw);
      else w.reject(w.error ?? new Error('signature not made'));
    }
  }

  /**
   * The series' signatures not made yet, back to back. What the session or withPin recover from
   * (the card wants PW1, another application is selected; a reset rejects the call) stops the
   * series and is thrown: they go on with the rest. Anything else fails that signature alone.
   */
  private async authenticateSeries(session: CardSession, op: SessionContext, series: readonly WaitingSignature[]): Promise<void> {
    for (;;) {
      const ready: { w: WaitingSignature; input: Uint8Array }[] = [];
      for (const w of series) {
        if (w.raw !== undefined || w.error !== undefined) continue;
        try {
          ready.push({ w, input: op.card.authenticationInputFor(w.message, w.hash) });
        } catch (err) {
          w.error = err;
        }
      }
      if (ready.length === 0) return;
      const out = await this.withTouchPrompt(session, ready[0]!.w.host, () => op.card.authenticateSeries(ready.map((r) => r.input)), ready.length);
      for (const [i, r] of out.entries()) {
        if (r instanceof Uint8Array) ready[i]!.w.raw = r;
        else if (r instanceof SecurityStatusNotSatisfiedError || r instanceof ForeignApplicationError) throw r;
        else ready[i]!.w.error = this.touchTimeout(session, r);
      }
    }
  }

  /**
   * Runs a signature check (an Ed25519 verify takes ~100-130 us here) in an event-loop turn of its
   * own, after the checks queued before it: requests read meanwhile reach the card first, and the
   * card signs them while we check. A series is checked one signature per turn, each reply
   * written as soon as its signature is checked.
   */
  private checkInTurn(check: () => boolean): Promise<boolean> {
    const result = this.checks.then(() => nextTurn()).then(check);
    this.checks = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** OpenPGP card 3.4.1 reserves 6600 for the user interaction flag: no touch in time. */
  private touchTimeout(session: CardSession, err: unknown): unknown {
    return err instanceof SecurityIssueError ? new TouchTimeoutError(`card ${session.ident} was not touched in time; the signature was not made`) : err;
  }

  /** Runs a signing command; a card that has not answered after a moment wants a touch: say so. */
  private async withTouchPrompt<T>(session: CardSession, host: string | undefined, command: () => Promise<T>, signatures = 1): Promise<T> {
    const timer = setTimeout(() => {
      const forHost = host === undefined ? '' : ` (for ${host})`;
      const times = signatures > 1 ? `, once for each of ${signatures} signatures` : '';
      this.opts.notifier?.notify({ title: 'Touch your card', message: `Touch your card ${session.ident}${forHost}${times}` });
    }, this.opts.touchPromptAfterMs ?? 500);
    timer.unref();
    try {
      return await command();
    } catch (err) {
      throw this.touchTimeout(session, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async signatureMismatch(session: CardSession, before: SshView): Promise<never> {
    await session.refresh();
    const now = this.view(session);
    if (now.keyBlob !== undefined && before.keyBlob !== undefined && !equalBytes(now.keyBlob, before.keyBlob)) {
      this.opts.log.warn({ ident: session.ident, before: before.fingerprint, now: now.fingerprint }, 'the card has a new authentication key; the signature by it was not returned');
      throw new StaleKeyError(`card ${session.ident} has a new authentication key (${now.fingerprint ?? 'unusable'}); list the keys again`);
    }
    this.opts.log.error({ ident: session.ident }, 'the card returned a signature that does not verify; it was not returned');
    throw new StaleKeyError(`card ${session.ident} returned a signature that does not verify with its key`);
  }

  async addSmartcardKey(readerId: string, pin: Secret, constraints: readonly Constraint[], ctx: RequestContext): Promise<void> {
    const session = this.requireCard(readerId);
    let lifetime: number | undefined;
    let confirm = false;
    for (const c of constraints) {
      if (c.kind === 'lifetime') lifetime = c.seconds;
      else if (c.kind === 'confirm') confirm = true;
    }
    const cannotConfirm = this.opts.confirm === undefined ? 'no confirmation program is configured' : this.opts.confirmUnavailable?.();
    if (confirm && cannotConfirm !== undefined) {
      throw new PinRequiredError(`confirmation (ssh-add -c) was asked for, but there is no way to ask the user: ${cannotConfirm}`);
    }
    this.disarm(session);
    try {
      await session.run('ssh-add -s', async (op) => {
        // A PIN the user just typed may use even the last try: the user chose to.
        await this.verifyTypedPin(session.ident, op, pin, PW1_82);
      });
      try {
        await this.opts.pins.keep(session.ident, pin, lifetime);
      } catch (err) {
        // The card accepted the PIN but we could not keep it: take the verification back.
        await this.lockCard(session, 'the PIN could not be stored');
        throw err;
      }
    } finally {
      this.armIdleLock(session);
    }
    if (confirm) this.confirmIdents.add(session.ident);
    else this.confirmIdents.delete(session.ident);
    ctx.conn.log.info({ ident: session.ident, lifetime, confirm }, lifetime === undefined ? 'PIN verified by the card and stored' : 'PIN verified by the card and kept in memory');
  }

  async removeSmartcardKey(readerId: string, _pin: Secret, ctx: RequestContext): Promise<void> {
    const session = this.opts.cards.findByIdent(readerId);
    const ident = session?.ident ?? readerId.trim().toUpperCase();
    if (session === undefined && (await this.opts.pins.get(ident)) === undefined) {
      // Neither plugged nor remembered: nothing to forget, and probably a typo.
      this.requireCard(readerId);
    }
    this.confirmIdents.delete(ident);
    // The card first: it must stop signing even if the keychain cannot be reached.
    if (session !== undefined) await this.lockCard(session, 'ssh-add -e');
    await this.opts.pins.forget(ident);
    ctx.conn.log.info({ ident }, 'PIN forgotten');
  }

  /** ssh-add -d of a card's key: the card forgets its verified PIN; the key stays listed (it is on the card). */
  async removeIdentity(keyBlob: Uint8Array, ctx: RequestContext): Promise<boolean> {
    const session = this.findByKeyBlob(keyBlob);
    if (session === undefined) return false;
    await this.lockCard(session, 'ssh-add -d');
    ctx.conn.log.info({ ident: session.ident }, 'card locked (ssh-add -d): its key stays listed, it signs again once its PIN is verified');
    return true;
  }

  /** ssh-add -D: every card forgets its verified PIN, PINs in memory are forgotten; the keychain keeps its copies. */
  async removeAllIdentities(ctx: RequestContext): Promise<void> {
    this.confirmIdents.clear();
    await this.lockAll('ssh-add -D');
    this.opts.pins.forgetAllMemory();
    ctx.conn.log.info('every card locked and the PINs in memory forgotten (the keychain keeps its copies)');
  }

  /** The agent was locked (ssh-add -x): no card may stay open behind it. */
  async agentLocked(): Promise<void> {
    await this.lockAll('the agent was locked');
  }

  /**
   * What `status` shows of every card: key, fingerprint, where its PIN is (and whether the agent
   * knows it to be bad), the retry counter and signature counter read fresh with GET DATA (no PIN
   * try), and whether the card is verified now. Reading a card that does not answer gives nulls.
   */
  async cardReports(): Promise<CardReport[]> {
    const out: CardReport[] = [];
    for (const session of this.opts.cards.list()) {
      const view = this.view(session);
      const aut = session.snapshot.applicationData.algorithms.aut;
      let retries: number | null = null;
      let counter: number | null = null;
      try {
        [retries, counter] = await session.run('status', async (op) => [await op.pw1Retries(), await readSignatureCounter(op.card.channel).catch(() => null)] as const);
      } catch (err) {
        this.opts.log.debug({ ident: session.ident, err: (err as Error).message }, 'status: the card did not answer');
      }
      const pin = await this.opts.pins.status(session.ident).catch((err: unknown) => ({ location: 'none' as const, storeError: (err as Error).message }));
      out.push({
        ident: session.ident,
        reader: session.reader,
        algorithm: aut === undefined ? 'none' : describeAlgorithm(aut),
        fingerprint: view.fingerprint ?? null,
        usable: view.unusable === undefined,
        problem: view.unusable ?? null,
        pin: { ...pin, knownBad: this.opts.pins.isKnownBad(session.ident) },
        pinRetries: retries,
        blocked: retries === 0,
        signatureCounter: counter,
        touch: session.snapshot.applicationData.touch.aut,
        verified: session.pinState(PW1_82),
        confirm: this.confirmIdents.has(session.ident),
      });
    }
    return out;
  }

  /** The card's OpenPGP keys (signature, decryption, authentication), read once per read of the card. */
  private cardKeys(session: CardSession): Promise<CardOpenPgpKeys> {
    const generation = session.snapshot.generation;
    const cached = this.openPgpKeys.get(session);
    if (cached !== undefined && cached.generation === generation) return cached.keys;
    const keys = session.run('read OpenPGP keys', (op) => readCardKeys(op.card.channel, { applicationData: op.snapshot.applicationData }));
    keys.catch(() => this.openPgpKeys.delete(session));
    this.openPgpKeys.set(session, { generation, keys });
    return keys;
  }

  /** The card's OpenPGP keys, or undefined (logged) when they cannot be read. */
  private async readableCardKeys(session: CardSession): Promise<CardOpenPgpKeys | undefined> {
    try {
      return await this.cardKeys(session);
    } catch (err) {
      this.opts.log.warn({ ident: session.ident, err: (err as Error).message }, 'could not read the OpenPGP keys of the card');
      return undefined;
    }
  }

  /** SignatureKeySource: every plugged card's OpenPGP keys, with their stored fingerprints and times. */
  async listSignatureKeys(_ctx: RequestContext): Promise<OpenPgpKeyInfo[]> {
    const out: OpenPgpKeyInfo[] = [];
    for (const session of this.opts.cards.list()) {
      const keys = await this.readableCardKeys(session);
      if (keys === undefined) continue;
      for (const slot of ['sig', 'dec', 'aut'] as const) {
        const k = keys[slot];
        if (k === undefined || k.created === 0) continue;
        out.push({ ident: session.ident, slot: SLOT_NAME[slot], fingerprint: k.fingerprint, created: k.created, parts: k.parts });
      }
    }
    return out;
  }

  /**
   * SignatureKeySource: the first plugged card (in listing order) whose signature key has the
   * fingerprint `fingerprint`, as listSignatureKeys lists it; no APDU once the card's keys are read.
   */
  async signatureKey(fingerprint: Uint8Array, _ctx: RequestContext): Promise<SignatureKey | undefined> {
    for (const session of this.opts.cards.list()) {
      const keys = await this.readableCardKeys(session);
      if (keys === undefined) continue;
      const key = keys.sig;
      if (key === undefined || key.created === 0 || !equalBytes(key.fingerprint, fingerprint)) continue;
      const oneSignature = keys.pw1ValidForOneSignature;
      return { ident: session.ident, sign: (hash, digest, ctx, options) => this.signDigest(session, key, oneSignature, hash, digest, ctx, options) };
    }
    return undefined;
  }

  /**
   * PSO: COMPUTE DIGITAL SIGNATURE with the card's signature key `key`, under the same PIN rules
   * as authentication (PW1 81; before every signature when C4 says PW1 is good for one only),
   * checked against the key before it is returned.
   */
  private async signDigest(session: CardSession, key: CardSlotKey, oneSignature: boolean, hash: SigningHash, digest: Uint8Array, ctx: RequestContext, options: { readonly purpose?: string } = {}): Promise<Uint8Array> {
    const host = hostOf(ctx);
    if (this.confirmIdents.has(session.ident)) await this.askConfirmation(session.ident, host, options.purpose, describePeer(ctx.conn.peer));
    this.disarm(session);
    try {
      const raw = await this.withPin(session, 'PSO:CDS', PW1_81, oneSignature, host, async (op) => {
        try {
          return await this.withTouchPrompt(session, host, () => pskSignDigest(op.card.channel, key.attributes, hash, digest));
        } finally {
          // "PW1 valid for one PSO:CDS": the card has forgotten it again.
          if (oneSignature) op.setPinState(PW1_81, 'not-verified');
        }
      });
      const material = keyFromParts(key.parts, key.created, key.fingerprint).key.material;
      if (!verifyRawSignature(material, HASH_ID[hash], digest, raw)) {
        this.openPgpKeys.delete(session);
        await session.refresh();
        this.opts.log.warn({ ident: session.ident }, 'the card made an OpenPGP signature that does not verify with its signature key; it was not returned');
        throw new StaleKeyError(`card ${session.ident}'s signature key does not match the one the agent knows; list the keys again`);
      }
      ctx.conn.log.debug({ ident: session.ident, purpose: options.purpose }, 'PSO:CDS signature made and checked');
      return raw;
    } finally {
      this.armIdleLock(session);
    }
  }

  private requireCard(readerId: string): CardSession {
    const session = this.opts.cards.findByIdent(readerId);
    if (session !== undefined) return session;
    const plugged = this.opts.cards.list().map((s) => s.ident);
    throw new UnknownCardError(`no card "${readerId}" is plugged in; ${plugged.length === 0 ? 'no cards are plugged in' : `plugged: ${plugged.join(', ')}`}`);
  }

  /**
   * Runs `work` on the card with PW1 (`mode`) verified: as it is when the card says so; else
   * with the stored PIN under the rules that keep the card from blocking; else with a PIN the
   * user types into a prompt (outside the PC/SC transaction), kept in memory, and in the
   * keychain only when the user asked for that. `everyTime`: verify before each use (C4 "PW1
   * valid for one PSO:CDS").
   */
  private async withPin<T>(session: CardSession, what: string, mode: typeof PW1_81 | typeof PW1_82, everyTime: boolean, host: string | undefined, work: (op: SessionContext) => Promise<T>): Promise<T> {
    let need: NeedPinError;
    try {
      return await session.run(what, async (op) => {
        if (everyTime || op.pinState(mode) === 'not-verified') await this.verifyStoredPin(session, op, mode);
        try {
          return await work(op);
        } catch (err) {
          if (!(err instanceof SecurityStatusNotSatisfiedError)) throw err;
          // The card wants PW1: first use, a reset by another application, or a PIN reset.
          op.setPinState(mode, 'not-verified');
          await this.verifyStoredPin(session, op, mode);
          return await work(op);
        }
      });
    } catch (err) {
      if (!(err instanceof NeedPinError)) throw err;
      need = err;
    }
    const answer = await this.askPin(session, need, host);
    try {
      const result = await session.run(`${what} (PIN typed)`, async (op) => {
        if (everyTime || op.pinState(mode) !== 'verified') {
          // A waiter on the same prompt may find the card verified already by the first one.
          await this.verifyTypedPin(session.ident, op, answer.pin, mode);
        }
        return work(op);
      });
      const where = await this.opts.pins.keep(session.ident, answer.pin, undefined, { memoryOnly: !answer.store });
      this.opts.log.info({ ident: session.ident, where }, answer.store ? 'PIN typed into the prompt, accepted by the card and stored' : 'PIN typed into the prompt, accepted by the card and kept in memory');
      return result;
    } finally {
      answer.pin.wipe();
    }
  }

  /** Asks the user for the PIN, or says why not (no prompt, cancelled) with the ssh-add -s hint. */
  private async askPin(session: CardSession, need: NeedPinError, host: string | undefined): Promise<Exclude<PinAnswer, 'cancelled'>> {
    const ident = session.ident;
    const prompt = this.opts.prompt;
    const method = prompt?.method();
    if (prompt === undefined || method === undefined || method.kind === 'none') {
      this.opts.notifier?.notify({ title: 'PIN needed', message: need.message });
      throw new PinRequiredError(method?.kind === 'none' ? `${need.message} (no way to ask here: ${method.reason})` : need.message);
    }
    const pw = session.snapshot.applicationData.pwStatus;
    const answer = await prompt.askPin({
      ident,
      nickname: await this.opts.pins.nickname(ident).catch(() => undefined),
      retriesLeft: need.retriesLeft,
      host,
      minLength: PW1_MIN_LENGTH,
      maxLength: pw !== undefined && pw.maxLengthPw1 > 0 ? pw.maxLengthPw1 : 127,
    });
    if (answer === 'cancelled') throw new PinRequiredError(`the PIN prompt for card ${ident} was cancelled; the card was not touched`);
    return answer;
  }

  /** VERIFY of a PIN the user typed: refused on a blocked card, and a rejection reported (then rethrown). */
  private async verifyTypedPin(ident: string, op: SessionContext, pin: Secret, mode: typeof PW1_81 | typeof PW1_82): Promise<void> {
    this.refuseBlocked(ident, await op.pw1Retries());
    try {
      await op.verifyPw1(pin, mode);
    } catch (err) {
      this.reportPinFailure(ident, err, 'typed');
      throw err;
    }
  }

  private refuseBlocked(ident: string, retries: number): void {
    if (retries > 0) return;
    const message = blockedMessage(ident);
    this.opts.log.error({ ident }, message);
    this.opts.notifier?.notify({ title: 'Card blocked', message });
    throw new PinBlockedError(message, 0x6983);
  }

  /** Verifies PW1 (82, or 81 for PSO:CDS) with the stored PIN, following the rules that keep the card from blocking. */
  private async verifyStoredPin(session: CardSession, op: SessionContext, mode: typeof PW1_81 | typeof PW1_82 = PW1_82): Promise<void> {
    const ident = session.ident;
    const retries = await op.pw1Retries();
    this.refuseBlocked(ident, retries);
    const knownBad = this.opts.pins.isKnownBad(ident);
    let pin: Secret | undefined;
    if (!knownBad) {
      try {
        pin = await this.opts.pins.get(ident);
      } catch (err) {
        if (!(err instanceof KeychainError)) throw err;
        this.opts.log.warn({ ident, err: err.message }, 'the keychain could not be asked for the PIN');
      }
    }
    const decision = decideStoredPin({ ident, hasPin: pin !== undefined, knownBad, retries });
    if (decision.action === 'refuse') {
      pin?.wipe();
      // A PIN the card rejected is not replaced by a prompt: the user says when with ssh-add -s.
      if (decision.reason === 'known-bad') {
        this.opts.notifier?.notify({ title: decision.title, message: decision.message });
        throw new PinRequiredError(decision.message);
      }
      throw new NeedPinError(decision.message, retries);
    }
    try {
      await op.verifyPw1(pin!, mode);
    } catch (err) {
      this.reportPinFailure(ident, err, 'stored');
      // Whatever the card answered, this PIN is never sent again.
      if (err instanceof PinRejectedError) await this.opts.pins.rejected(ident);
      throw err;
    } finally {
      pin!.wipe();
    }
  }

  private reportPinFailure(ident: string, err: unknown, origin: PinOrigin): void {
    if (err instanceof PinBlockedError) {
      const message = blockedMessage(ident);
      this.opts.log.error({ ident }, message);
      this.opts.notifier?.notify({ title: 'Card blocked', message });
    } else if (err instanceof PinRejectedError) {
      const message = wrongPinMessage(ident, err.retriesLeft, origin);
      this.opts.log.warn({ ident, retriesLeft: err.retriesLeft }, message);
      this.opts.notifier?.notify({ title: 'Wrong PIN', message });
    }
  }

  private async askConfirmation(ident: string, host: string | undefined, purpose?: string, peer?: string): Promise<void> {
    const what = purpose === undefined ? `use of card key ${ident}` : `card ${ident} to sign (${purpose})`;
    const ok = await this.opts.confirm!(`Allow ${what}${host === undefined ? '' : ` for ${host}`}${peer === undefined ? '' : `, asked by ${peer}`}?`);
    if (!ok) throw new PinRequiredError(`signature with card ${ident} not confirmed by the user`);
  }

  private armIdleLock(session: CardSession): void {
    if (this.closed || this.opts.lockCards === false) return;
    this.disarm(session);
    if (this.idleLockMs === 0) {
      void this.lockCard(session, 'after use (--card-idle-lock 0)');
      return;
    }
    const timer = setTimeout(() => {
      this.idleTimers.delete(session);
      void this.lockCard(session, `idle for ${this.idleLockMs / 1000} s`);
    }, this.idleLockMs);
    timer.unref();
    this.idleTimers.set(session, timer);
  }

  private disarm(session: CardSession): void {
    const t = this.idleTimers.get(session);
    if (t !== undefined) clearTimeout(t);
    this.idleTimers.delete(session);
  }

  /** The card forgets its verified PIN (VERIFY P1=FF, or a card reset on 2.x cards). */
  private async lockCard(session: CardSession, why: string): Promise<void> {
    this.disarm(session);
    if (session.pinState(PW1_82) === 'not-verified' && session.pinState(PW1_81) === 'not-verified') return;
    try {
      await session.forgetVerification();
      this.opts.log.info({ ident: session.ident, why }, 'card locked: it signs again only after its PIN is verified');
    } catch (err) {
      this.opts.log.warn({ ident: session.ident, why, err: (err as Error).message }, 'the card could not be told to forget its PIN; it stays verified until reset or removal');
    }
  }

  private async lockAll(why: string): Promise<void> {
    if (this.opts.lockCards === false) return;
    await Promise.all(this.opts.cards.list().map((s) => this.lockCard(s, why)));
  }

  /** Shutdown: every card forgets its verified PIN. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.idleTimers.keys()]) this.disarm(s);
    await this.lockAll('the agent is stopping');
  }
}

/** The host a request is for, by its known_hosts name where known (session-bind), else its key's fingerprint. */
function hostOf(ctx: RequestContext): string | undefined {
  const last = ctx.sessions.at(-1);
  return last === undefined ? undefined : hostLabel(last);
}
