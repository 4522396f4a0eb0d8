import { connect } from 'node:net';
import type { Request, Response } from '../protocol/messages.js';
import { encodeRequest } from '../protocol/request.js';
import { decodeResponse } from '../protocol/response.js';
import { FrameSplitter, encodeFrame } from '../server/framing.js';

/** What came back from one request: a reply, the agent hung up, or nothing in time. */
export type AgentAnswer = { readonly kind: 'reply'; readonly response: Response } | { readonly kind: 'closed' } | { readonly kind: 'timeout' };

/**
 * One request to whatever agent listens on `path` (a unix socket or a named pipe), on a fresh
 * connection. Connection errors (ENOENT, ECONNREFUSED) reject; a reply that does not decode
 * rejects with the WireFormatError.
 */
export function askAgent(path: string, req: Request, timeoutMs = 3000): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      f();
    };
    const timer = setTimeout(() => finish(() => resolve({ kind: 'timeout' })), timeoutMs);
    const splitter = new FrameSplitter((body) => {
      finish(() => {
        try {
          resolve({ kind: 'reply', response: decodeResponse(body, req.type) });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (err) {
        finish(() => reject(err instanceof Error ? err : new Error(String(err))));
      }
    });
    socket.once('error', (err) => finish(() => reject(err)));
    socket.once('close', () => finish(() => resolve({ kind: 'closed' })));
    socket.write(encodeFrame(encodeRequest(req)));
  });
}
