import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gnupgHome } from '../gpg/gnupg-home.js';
import { copySecretBytes, Secret, secretBytes } from '../secret.js';

/**
 * A pinentry (GnuPG's PIN dialog programs: pinentry-gnome3, -qt, -gtk2, -curses, -tty, -mac,
 * pinentry-w32) driven over the Assuan protocol on its stdin/stdout, as gpg-agent does
 * (agent/call-pinentry.c): OPTION, SETTITLE, SETDESC, SETPROMPT, SETERROR, SETKEYINFO,
 * SETTIMEOUT, GETPIN, CONFIRM, BYE.
 *
 * The PIN comes back in a `D` line, percent-escaped; it is decoded straight into bytes and the
 * line buffers are zeroed, so it never becomes a JS string here.
 */

/** GnuPG error codes pinentry answers with (libgpg-error's err-codes.h), low 16 bits. */
const GPG_ERR_CANCELED = 99;
const GPG_ERR_FULLY_CANCELED = 198;
const GPG_ERR_NOT_CONFIRMED = 114;
const GPG_ERR_TIMEOUT = 62;

/** Where GnuPG's own default pinentry is (its bindir), on the systems we know. */
export const DEFAULT_PINENTRY_PATHS = ['/usr/bin/pinentry', '/usr/local/bin/pinentry', '/opt/homebrew/bin/pinentry', '/opt/local/bin/pinentry'] as const;

/**
 * The pinentry GnuPG would run: `pinentry-program` in $GNUPGHOME/gpg-agent.conf (default
 * ~/.gnupg), else its default pinentry. Undefined when there is none.
 */
export function findPinentry(env: NodeJS.ProcessEnv, defaults: readonly string[] = DEFAULT_PINENTRY_PATHS): string | undefined {
  const configured = pinentryProgramFromConf(join(gnupgHome(env, env['HOME'] ?? homedir()), 'gpg-agent.conf'));
  if (configured !== undefined && existsSync(configured)) return configured;
  return defaults.find((p) => existsSync(p));
}

/** The last `pinentry-program` line of a gpg-agent.conf (as gpg-agent's option parser keeps the last). */
export function pinentryProgramFromConf(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let program: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    const m = /^pinentry-program\s+(.+)$/.exec(line);
    if (m !== null) program = unquote(m[1]!.trim());
  }
  return program;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** Assuan percent-escaping of a command argument (%, CR, LF and other control characters). */
export function assuanEscape(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
  return text.replace(/[%\r\n\x00-\x1f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Decodes the data of `D` lines (percent escapes) into bytes. */
function assuanUnescape(line: Uint8Array): Uint8Array {
  const out = secretBytes(line.length);
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === 0x25 && i + 2 < line.length) {
      const hi = hexValue(line[i + 1]!);
      const lo = hexValue(line[i + 2]!);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  const result = copySecretBytes(out.subarray(0, n));
  out.fill(0);
  return result;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

export class PinentryError extends Error {
  constructor(
    message: string,
    /** The GnuPG error code when pinentry answered ERR. */
    readonly gpgError?: number,
  ) {
    super(message);
  }
}

interface Reply {
  readonly ok: boolean;
  /** Concatenated, unescaped D data (the caller wipes it). */
  readonly data: Uint8Array;
  /** ERR code and text. */
  readonly error?: { readonly code: number; readonly text: string };
}

/** One pinentry process and its Assuan conversation. */
export class PinentrySession {
  private buffer: Uint8Array = new Uint8Array(0);
  private waiting: ((line: Uint8Array | Error) => void) | undefined;
  private readonly lines: Uint8Array[] = [];
  private closed: Error | undefined;
  private wasKilled = false;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    const end = (err: Error): void => {
      this.closed ??= err;
      this.flush();
    };
    child.once('error', (err) => end(new PinentryError(`pinentry could not be run: ${err.message}`)));
    child.once('close', (code, signal) => end(new PinentryError(`pinentry exited (${signal ?? `status ${code}`})`)));
    child.stdin!.on('error', () => undefined);
  }

  /** Starts `program` and waits for its greeting. */
  static async start(program: string, env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<PinentrySession> {
    const child = spawn(program, [...args], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    const session = new PinentrySession(child);
    const greeting = await session.reply();
    if (!greeting.ok) {
      session.kill();
      throw new PinentryError(`pinentry did not greet: ${greeting.error?.text ?? 'no OK'}`, greeting.error?.code);
    }
    return session;
  }

  private onData(chunk: Buffer): void {
    const joined = secretBytes(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer.fill(0);
    chunk.fill(0);
    let start = 0;
    for (let i = 0; i < joined.length; i++) {
      if (joined[i] !== 0x0a) continue;
      this.lines.push(copySecretBytes(joined.subarray(start, i)));
      start = i + 1;
    }
    this.buffer = copySecretBytes(joined.subarray(start));
    joined.fill(0);
    this.flush();
  }

  private flush(): void {
    if (this.waiting === undefined) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      const w = this.waiting;
      this.waiting = undefined;
      w(line);
    } else if (this.closed !== undefined) {
      const w = this.waiting;
      this.waiting = undefined;
      w(this.closed);
    }
  }

  private nextLine(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.waiting = (l) => (l instanceof Error ? reject(l) : resolve(l));
      this.flush();
    });
  }

  /** Reads lines up to OK or ERR, collecting D data. */
  private async reply(): Promise<Reply> {
    const chunks: Uint8Array[] = [];
    try {
      for (;;) {
        const line = await this.nextLine();
        const head = String.fromCharCode(...line.subarray(0, Math.min(line.length, 4)));
        if (head.startsWith('D ')) {
          chunks.push(assuanUnescape(line.subarray(2)));
        } else if (head === 'OK' || head.startsWith('OK ')) {
          line.fill(0);
          return { ok: true, data: concat(chunks) };
        } else if (head.startsWith('ERR ')) {
          const text = new TextDecoder().decode(line.subarray(4));
          const code = Number.parseInt(text, 10);
          return { ok: false, data: new Uint8Array(0), error: { code: Number.isFinite(code) ? code : 0, text } };
        } else if (head.startsWith('INQU')) {
          // Pinentry does not inquire; answer END so it cannot hang on us.
          this.write('END');
        }
        // S (status) and # (comment) lines are informative only.
        line.fill(0);
      }
    } finally {
      for (const c of chunks) c.fill(0);
    }
  }

  private write(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Sends a command and waits for its reply; throws PinentryError on ERR. */
  async command(line: string): Promise<void> {
    this.write(line);
    const r = await this.reply();
    r.data.fill(0);
    if (!r.ok) throw new PinentryError(`pinentry refused "${line.split(' ')[0]}": ${r.error?.text ?? ''}`, r.error?.code);
  }

  /** Sends a command whose failure is not an error (an OPTION an older pinentry does not know). */
  async optional(line: string): Promise<void> {
    await this.command(line).catch(() => undefined);
  }

  /** GETPIN: the PIN typed, or 'cancelled' (cancel button, Escape, closed window, timeout). */
  async getPin(): Promise<Secret | 'cancelled'> {
    this.write('GETPIN');
    const r = await this.reply();
    if (!r.ok) {
      if (isCancel(r.error?.code)) return 'cancelled';
      throw new PinentryError(`pinentry failed to ask for the PIN: ${r.error?.text ?? ''}`, r.error?.code);
    }
    try {
      return new Secret(r.data);
    } finally {
      r.data.fill(0);
    }
  }

  /** CONFIRM: true for OK, false for the other button (or cancel). */
  async confirm(): Promise<boolean> {
    this.write('CONFIRM');
    const r = await this.reply();
    if (r.ok) return true;
    if (isCancel(r.error?.code) || (r.error !== undefined && (r.error.code & 0xffff) === GPG_ERR_NOT_CONFIRMED)) return false;
    throw new PinentryError(`pinentry failed to ask: ${r.error?.text ?? ''}`, r.error?.code);
  }

  /** BYE, then the process is left to exit (killed if it lingers). */
  async close(): Promise<void> {
    if (this.closed === undefined) {
      this.write('BYE');
      this.child.stdin!.end();
    }
    const timer = setTimeout(() => this.kill(), 2000);
    timer.unref();
  }

  /** Whether kill() ended it (our timeout), as against pinentry exiting by itself. */
  get killed(): boolean {
    return this.wasKilled;
  }

  kill(): void {
    this.wasKilled = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.buffer.fill(0);
    for (const l of this.lines) l.fill(0);
  }
}

function isCancel(code: number | undefined): boolean {
  if (code === undefined) return false;
  const c = code & 0xffff;
  return c === GPG_ERR_CANCELED || c === GPG_ERR_FULLY_CANCELED || c === GPG_ERR_TIMEOUT;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = secretBytes(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
