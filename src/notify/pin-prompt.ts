import { AgentError } from '../errors.js';
import { getLogger, type Logger } from '../log.js';
import { Secret } from '../secret.js';
import { askpassProgram, DEFAULT_ASKPASS_PATHS, runAskpass } from './askpass.js';
import { assuanEscape, DEFAULT_PINENTRY_PATHS, findPinentry, PinentryError, PinentrySession } from './pinentry.js';
import { triesLeft } from '../card/iso7816/status.js';

/** What the card key provider asks for when a card needs its PIN and none is known. */
export interface PinRequest {
  /** The card's ident, e.g. 0006:12345678. */
  readonly ident: string;
  /** openpgp-card-state's nickname for the card. */
  readonly nickname?: string | undefined;
  /** PW1's retry counter now (read without a try). 1 = the last try. */
  readonly retriesLeft: number;
  /** The host the signature is for, as the caller names it (e.g. from session-bind). */
  readonly host?: string | undefined;
  /** PW1's length limits (6 and the card's maximum from C4): other lengths are asked again. */
  readonly minLength: number;
  readonly maxLength: number;
}

/**
 * The user's answer: the PIN (a Secret the caller owns and wipes) and whether they asked to keep
 * it in the keychain; or 'cancelled' (cancel, Escape, closed dialog, timeout).
 */
export type PinAnswer = { readonly pin: Secret; readonly store: boolean } | 'cancelled';

/** The port the card key provider calls. */
export interface PinPrompt {
  /** How the user would be asked, or why they cannot be (no pinentry, no SSH_ASKPASS, no display). */
  method(): PromptMethod;
  /**
   * Asks for a card's PIN. One prompt per card at a time: callers arriving while one is open
   * get the same answer (each its own copy of the PIN). Rejects with PinPromptUnavailableError
   * when there is no way to ask, PinPromptError when the program failed.
   */
  askPin(req: PinRequest): Promise<PinAnswer>;
}

export type PromptMethod = { readonly kind: 'pinentry' | 'askpass'; readonly program: string } | { readonly kind: 'none'; readonly reason: string };

/** No way to ask the user (the provider then gives the `ssh-add -s <ident>` hint). */
export class PinPromptUnavailableError extends AgentError {
  override readonly code = 'E_NO_PIN_PROMPT';
}

/** The prompt program failed (not a cancel). */
export class PinPromptError extends AgentError {
  override readonly code = 'E_PIN_PROMPT';
}

export interface PinPromptOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
  /** --pinentry PROGRAM; without it, the one GnuPG would use (gpg-agent.conf, then its default). */
  readonly pinentry?: string | undefined;
  /** false: never pinentry, only SSH_ASKPASS. */
  readonly usePinentry?: boolean;
  /**
   * Whether a PIN typed here goes to the keychain: 'ask' (a second question, "keep it in the
   * keychain?", since no pinentry reports a checkbox back to its caller), 'always', 'never'.
   */
  readonly store?: 'ask' | 'always' | 'never';
  /** A prompt left unanswered this long is cancelled (default 60 s). */
  readonly timeoutMs?: number;
  /** PINs of a wrong length are asked for again this many times in all (default 3). */
  readonly maxAttempts?: number;
  /** For tests: where to look for a default pinentry / ssh-askpass. */
  readonly pinentryDefaults?: readonly string[];
  readonly askpassDefaults?: readonly string[];
}

export const DEFAULT_PIN_PROMPT_TIMEOUT_MS = 60_000;

export const PROMPT_TITLE = 'openpgp-card-agent';

/** The words of the prompt: card, nickname, host, tries; the last try said plainly. */
export function describePinRequest(req: PinRequest): { description: string; lastTry: boolean } {
  const card = `OpenPGP card ${req.ident}${req.nickname === undefined ? '' : ` ("${req.nickname}")`}`;
  const purpose = req.host === undefined ? 'to sign' : `to sign for ${req.host}`;
  const lastTry = req.retriesLeft <= 1;
  const triesLine = lastTry ? 'This is the LAST try: a wrong PIN blocks the card.' : `${triesLeft(req.retriesLeft)} before the card blocks its PIN.`;
  return { description: `Enter the User PIN of ${card} ${purpose}.\n${triesLine}`, lastTry };
}

export function lengthProblem(req: PinRequest, length: number): string | undefined {
  if (length >= req.minLength && length <= req.maxLength) return undefined;
  return `The PIN must have ${req.minLength} to ${req.maxLength} characters (that one had ${length}); it was not sent to the card.`;
}

interface Flight {
  readonly answer: Promise<PinAnswer>;
  waiters: number;
}

/** Asks through pinentry or SSH_ASKPASS, one prompt per card at a time. */
export class UserPinPrompt implements PinPrompt {
  private readonly flights = new Map<string, Flight>();
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;

  constructor(private readonly opts: PinPromptOptions = {}) {
    this.env = opts.env ?? process.env;
    this.log = opts.log ?? getLogger('notify');
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PIN_PROMPT_TIMEOUT_MS;
    this.maxAttempts = opts.maxAttempts ?? 3;
  }

  method(): PromptMethod {
    if (this.opts.usePinentry !== false) {
      if (this.opts.pinentry !== undefined) return { kind: 'pinentry', program: this.opts.pinentry };
      // A daemon has no terminal: the pinentry GnuPG would pick (often pinentry-curses, or a
      // GTK one that falls back to curses) can only ask on a graphical session there. An explicit
      // --pinentry is trusted as given.
      const graphical = process.platform === 'darwin' || process.platform === 'win32' || (this.env['DISPLAY'] ?? '') !== '' || (this.env['WAYLAND_DISPLAY'] ?? '') !== '';
      const program = graphical ? findPinentry(this.env, this.opts.pinentryDefaults ?? DEFAULT_PINENTRY_PATHS) : undefined;
      if (program !== undefined) return { kind: 'pinentry', program };
    }
    const askpass = askpassProgram(this.env, this.opts.askpassDefaults ?? DEFAULT_ASKPASS_PATHS);
    if ('program' in askpass) return { kind: 'askpass', program: askpass.program };
    return { kind: 'none', reason: `no pinentry found and ${askpass.refused}` };
  }

  async askPin(req: PinRequest): Promise<PinAnswer> {
    const key = req.ident.trim().toUpperCase();
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const f: Flight = { answer: this.ask(req), waiters: 0 };
      flight = f;
      this.flights.set(key, f);
      void f.answer.then(
        () => this.flights.delete(key),
        () => this.flights.delete(key),
      );
    } else {
      this.log.debug({ ident: key }, 'a PIN prompt for this card is open; waiting for its answer');
    }
    flight.waiters++;
    let answer: PinAnswer;
    try {
      answer = await flight.answer;
    } finally {
      flight.waiters--;
    }
    if (answer === 'cancelled') return answer;
    // Each caller owns its copy; the shared one is wiped once the last caller has copied it.
    const copy = { pin: answer.pin.clone(), store: answer.store };
    if (flight.waiters === 0) answer.pin.wipe();
    return copy;
  }

  private async ask(req: PinRequest): Promise<PinAnswer> {
    const how = this.method();
    if (how.kind === 'none') throw new PinPromptUnavailableError(`cannot ask for the PIN of card ${req.ident}: ${how.reason}`);
    if (how.kind === 'pinentry') {
      try {
        return await this.viaPinentry(how.program, req);
      } catch (err) {
        const askpass = askpassProgram(this.env, this.opts.askpassDefaults ?? DEFAULT_ASKPASS_PATHS);
        if (!(err instanceof PinentryError) || !('program' in askpass)) throw toPromptError(err);
        this.log.warn({ pinentry: how.program, err: err.message }, 'pinentry failed; asking through SSH_ASKPASS instead');
        return this.viaAskpass(askpass.program, req);
      }
    }
    return this.viaAskpass(how.program, req);
  }

  private async viaPinentry(program: string, req: PinRequest): Promise<PinAnswer> {
    const session = await PinentrySession.start(program, this.env);
    const timer = setTimeout(() => {
      this.log.info({ ident: req.ident }, 'PIN prompt not answered in time; cancelled');
      session.kill();
    }, this.timeoutMs);
    timer.unref();
    try {
      for (const [name, value] of pinentryOptions(this.env)) await session.optional(`OPTION ${name}=${assuanEscape(value)}`);
      const { description, lastTry } = describePinRequest(req);
      await session.optional(`SETTIMEOUT ${Math.ceil(this.timeoutMs / 1000)}`);
      // No external password cache: pinentry must not keep this PIN in a store of its own.
      await session.optional('SETKEYINFO --clear');
      await session.command(`SETTITLE ${assuanEscape(PROMPT_TITLE)}`);
      await session.command(`SETDESC ${assuanEscape(description)}`);
      await session.command(`SETPROMPT ${assuanEscape('PIN:')}`);
      if (lastTry) await session.command(`SETERROR ${assuanEscape('Last try: a wrong PIN blocks the card.')}`);
      for (let attempt = 1; ; attempt++) {
        const pin = await session.getPin().catch((err: unknown) => {
          if (timedOut(session)) return 'cancelled' as const;
          throw err;
        });
        if (pin === 'cancelled') return pin;
        const problem = lengthProblem(req, pin.length);
        if (problem === undefined) return { pin, store: await this.storeChoice(req, () => this.confirmStorePinentry(session, req)) };
        pin.wipe();
        if (attempt >= this.maxAttempts) throw new PinPromptError(`the PIN typed for card ${req.ident} had the wrong length ${attempt} times; nothing was sent to the card`);
        await session.command(`SETERROR ${assuanEscape(problem)}`);
      }
    } catch (err) {
      if (timedOut(session)) return 'cancelled';
      throw err;
    } finally {
      clearTimeout(timer);
      await session.close();
    }
  }

  private async confirmStorePinentry(session: PinentrySession, req: PinRequest): Promise<boolean> {
    await session.command(`SETDESC ${assuanEscape(`Keep the PIN of card ${req.ident} in the keychain, so the agent can use the card after a restart without asking?`)}`);
    await session.optional(`SETOK ${assuanEscape('Keep in keychain')}`);
    await session.optional(`SETCANCEL ${assuanEscape('Only until the agent stops')}`);
    return session.confirm().catch(() => false);
  }

  private async storeChoice(req: PinRequest, ask: () => Promise<boolean>): Promise<boolean> {
    const mode = this.opts.store ?? 'ask';
    if (mode !== 'ask') return mode === 'always';
    try {
      return await ask();
    } catch (err) {
      this.log.debug({ ident: req.ident, err: (err as Error).message }, 'could not ask whether to keep the PIN; not keeping it');
      return false;
    }
  }

  private async viaAskpass(program: string, req: PinRequest): Promise<PinAnswer> {
    const { description } = describePinRequest(req);
    let error = '';
    for (let attempt = 1; ; attempt++) {
      const text = `${PROMPT_TITLE}: ${description}${error === '' ? '' : `\n${error}`}\nPIN:`;
      const answer = await askpassLine(program, text, this.env, this.timeoutMs, 'passphrase');
      if (answer === 'cancelled') return answer;
      const pin = new Secret(answer);
      answer.fill(0);
      const problem = lengthProblem(req, pin.length);
      if (problem === undefined) {
        return {
          pin,
          store: await this.storeChoice(req, async () => {
            const yes = await askpassLine(program, `Keep the PIN of card ${req.ident} in the keychain?`, this.env, this.timeoutMs, 'confirm');
            if (yes === 'cancelled') return false;
            const reply = new TextDecoder().decode(yes).trim().toLowerCase();
            yes.fill(0);
            return reply === '' || reply === 'yes';
          }),
        };
      }
      pin.wipe();
      if (attempt >= this.maxAttempts) throw new PinPromptError(`the PIN typed for card ${req.ident} had the wrong length ${attempt} times; nothing was sent to the card`);
      error = problem;
    }
  }
}

function timedOut(session: PinentrySession): boolean {
  return session.killed;
}

function toPromptError(err: unknown): Error {
  if (err instanceof AgentError) return err;
  return new PinPromptError(`the PIN prompt failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** The OPTIONs gpg-agent gives pinentry from the environment (ttyname, ttytype, locale). */
function pinentryOptions(env: NodeJS.ProcessEnv): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') out.push([name, value]);
  };
  add('ttyname', env['GPG_TTY']);
  add('ttytype', env['TERM']);
  add('lc-ctype', env['LC_ALL'] ?? env['LC_CTYPE'] ?? env['LANG']);
  add('lc-messages', env['LC_ALL'] ?? env['LC_MESSAGES'] ?? env['LANG']);
  return out;
}

/**
 * Runs `$SSH_ASKPASS text` (runAskpass: SSH_ASKPASS_PROMPT=confirm for a yes/no question, unset
 * for a PIN) and returns its first line as bytes (the caller wipes them), or 'cancelled' when it
 * exits non-zero, is killed, or times out; PinPromptError when it cannot be run.
 */
async function askpassLine(program: string, text: string, env: NodeJS.ProcessEnv, timeoutMs: number, prompt: 'confirm' | 'passphrase'): Promise<Uint8Array | 'cancelled'> {
  const result = await runAskpass(program, text, { env, timeoutMs, prompt });
  if (result.kind === 'not-run') throw new PinPromptError(`SSH_ASKPASS (${program}) could not be run: ${result.error.message}`, { cause: result.error });
  return result.kind === 'answered' ? result.line : 'cancelled';
}
