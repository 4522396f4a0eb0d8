import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { FrameSplitter, encodeFrame } from '../../src/server/framing.js';

/** A pino logger that keeps its lines as parsed objects. */
export function memoryLogger(level: pino.LevelWithSilent = 'trace'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

/** A private temporary directory (0700, as mkdtemp makes it). */
export async function privateTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'oca-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A raw client: collects reply frames and notices when the server closes. */
export class RawClient {
  readonly replies: Uint8Array[] = [];
  readonly ended: Promise<void>;
  readonly socket: Socket;
  #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    const splitter = new FrameSplitter((f) => {
      this.replies.push(f);
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', () => undefined);
    this.ended = new Promise((resolve) => socket.once('close', () => {
      for (const w of this.#waiters.splice(0)) w();
      resolve();
    }));
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(...bodies: Uint8Array[]): void {
    for (const b of bodies) this.socket.write(encodeFrame(b));
  }

  /** Resolves once `n` replies have arrived, or the connection closed first. */
  async waitForReplies(n: number): Promise<Uint8Array[]> {
    while (this.replies.length < n && !this.socket.destroyed) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.replies;
  }

  close(): void {
    this.socket.destroy();
  }
}
