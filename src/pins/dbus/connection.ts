import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { AgentError } from '../../errors.js';
import { copySecretBytes, secretBytes } from '../../secret.js';
import { decodeMessage, encodeMessage, MESSAGE_TYPE, messageLength, type DBusMessage } from './wire.js';

/** The bus cannot be reached, refused us, or a call failed. `name` is the D-Bus error name when there is one. */
export class DBusError extends AgentError {
  override readonly code = 'E_DBUS';
  constructor(
    message: string,
    readonly dbusName?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Where the session bus is (D-Bus Specification §"Server Addresses"): the first `unix:path=` or
 * `unix:abstract=` of DBUS_SESSION_BUS_ADDRESS; without it, `$XDG_RUNTIME_DIR/bus` when that
 * socket exists (as sd-bus and GDBus do). Undefined when there is none.
 */
export function sessionBusPath(env: NodeJS.ProcessEnv): string | undefined {
  const address = env['DBUS_SESSION_BUS_ADDRESS'];
  if (address !== undefined && address !== '') {
    for (const entry of address.split(';')) {
      const colon = entry.indexOf(':');
      if (colon < 0 || entry.slice(0, colon) !== 'unix') continue;
      const params = new Map<string, string>();
      for (const kv of entry.slice(colon + 1).split(',')) {
        const eq = kv.indexOf('=');
        if (eq > 0) params.set(kv.slice(0, eq), unescapeAddressValue(kv.slice(eq + 1)));
      }
      const path = params.get('path');
      if (path !== undefined) return path;
      const abstract = params.get('abstract');
      // Node reaches Linux abstract sockets through a path starting with NUL.
      if (abstract !== undefined) return `\0${abstract}`;
    }
    return undefined;
  }
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime !== '') {
    const path = join(runtime, 'bus');
    if (existsSync(path)) return path;
  }
  return undefined;
}

function unescapeAddressValue(v: string): string {
  return v.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

interface Pending {
  resolve(m: DBusMessage): void;
  reject(err: Error): void;
}

export interface CallOptions {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

/**
 * One connection to a message bus over a unix socket: SASL EXTERNAL with our uid, Hello, then
 * method calls matched to their replies by serial, and signals handed to `onSignal`. Incoming
 * bytes are zeroed once decoded (replies may carry secrets); the decoded values are the caller's.
 */
export class DBusConnection {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private inbox: Uint8Array = new Uint8Array(0);
  private closedError: Error | undefined;
  uniqueName = '';
  onSignal: ((m: DBusMessage) => void) | undefined;

  private constructor(private readonly socket: Socket) {}

  /** Connects and authenticates; rejects with DBusError within `timeoutMs`. */
  static async open(path: string, timeoutMs: number): Promise<DBusConnection> {
    const socket = connect({ path });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from the bus within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
      const hexUid = Buffer.from(String(uid), 'ascii').toString('hex');
      socket.write(`\0AUTH EXTERNAL ${hexUid}\r\n`);
      const line = await readLine(socket);
      if (!line.startsWith('OK ')) throw new Error(`the bus refused authentication: ${line}`);
      socket.write('BEGIN\r\n');
      const conn = new DBusConnection(socket);
      conn.listen();
      const [name] = await conn.call({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'Hello',
      });
      conn.uniqueName = String(name);
      return conn;
    } catch (err) {
      socket.destroy();
      if (err instanceof DBusError) throw err;
      throw new DBusError(`cannot reach the D-Bus session bus at ${path.replace('\0', '@')}: ${(err as Error).message}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private listen(): void {
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    const fail = (err: Error): void => {
      this.closedError ??= err;
      for (const p of this.pending.values()) p.reject(new DBusError(`the bus connection closed: ${err.message}`));
      this.pending.clear();
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('closed')));
  }

  private receive(chunk: Buffer): void {
    const joined = secretBytes(this.inbox.length + chunk.length);
    joined.set(this.inbox);
    joined.set(chunk, this.inbox.length);
    this.inbox.fill(0);
    chunk.fill(0);
    let offset = 0;
    try {
      while (true) {
        const len = messageLength(joined.subarray(offset));
        if (len === undefined || joined.length - offset < len) break;
        const raw = joined.subarray(offset, offset + len);
        const m = decodeMessage(raw);
        raw.fill(0);
        offset += len;
        this.dispatch(m);
      }
    } catch (err) {
      joined.fill(0);
      this.inbox = new Uint8Array(0);
      this.socket.destroy(err as Error);
      return;
    }
    this.inbox = copySecretBytes(joined.subarray(offset));
    joined.fill(0);
  }

  private dispatch(m: DBusMessage): void {
    if (m.type === MESSAGE_TYPE.METHOD_RETURN || m.type === MESSAGE_TYPE.ERROR) {
      const p = m.replySerial === undefined ? undefined : this.pending.get(m.replySerial);
      if (p === undefined) return;
      this.pending.delete(m.replySerial!);
      p.resolve(m);
    } else if (m.type === MESSAGE_TYPE.SIGNAL) {
      this.onSignal?.(m);
    }
    // Method calls to us (e.g. Peer.Ping) are not answered: we export no objects.
  }

  /** Calls a method; resolves with the reply's body, rejects with DBusError on an error reply. */
  call(opts: CallOptions): Promise<unknown[]> {
    if (this.closedError !== undefined) return Promise.reject(new DBusError(`the bus connection closed: ${this.closedError.message}`));
    const serial = ++this.serial;
    const bytes = encodeMessage({
      type: MESSAGE_TYPE.METHOD_CALL,
      flags: 0,
      serial,
      path: opts.path,
      interface: opts.interface,
      member: opts.member,
      destination: opts.destination,
      signature: opts.signature,
      body: opts.body ?? [],
    });
    return new Promise<unknown[]>((resolve, reject) => {
      this.pending.set(serial, {
        resolve: (m) => {
          if (m.type === MESSAGE_TYPE.ERROR) {
            const detail = typeof m.body[0] === 'string' ? `: ${m.body[0]}` : '';
            reject(new DBusError(`${opts.interface}.${opts.member} failed with ${m.errorName ?? 'an error'}${detail}`, m.errorName));
          } else {
            resolve([...m.body]);
          }
        },
        reject,
      });
      this.socket.write(bytes, () => bytes.fill(0));
    });
  }

  close(): void {
    this.socket.destroy();
    this.inbox.fill(0);
  }
}

/** Reads one CRLF-terminated line of the SASL exchange, leaving nothing unread behind it. */
function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end < 0) {
        if (text.length > 4096) done(new Error('authentication line too long'));
        return;
      }
      // The server speaks only after our next line, so nothing follows the CRLF here.
      done(undefined, text.slice(0, end));
    };
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error('the bus closed the connection during authentication'));
    const done = (err?: Error, line?: string): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err !== undefined) reject(err);
      else resolve(line!);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
