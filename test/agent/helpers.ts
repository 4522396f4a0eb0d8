import pino from 'pino';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import type { Request, Response } from '../../src/protocol/messages.js';
import { encodeRequest } from '../../src/protocol/request.js';
import { decodeResponse } from '../../src/protocol/response.js';
import type { ConnectionContext } from '../../src/server/frame-handler.js';

export interface LogLine {
  level: number;
  msg: string;
  conn?: number;
  code?: string;
  req?: string;
  [k: string]: unknown;
}

/** An agent whose log lines (debug and up) are collected as parsed JSON. */
export function makeAgent(options: Omit<AgentOptions, 'log'> = {}): { agent: Agent; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  return { agent: new Agent({ unlockDelayMs: 0, ...options, log }), logs };
}

let nextConn = 1;
export function makeConn(): ConnectionContext {
  return { id: nextConn++, log: pino({ level: 'silent' }) };
}

export async function ask(agent: Agent, conn: ConnectionContext, req: Request | Uint8Array): Promise<Response> {
  const out = await agent.handleFrame(req instanceof Uint8Array ? req : encodeRequest(req), conn);
  if (out === null) throw new Error('agent closed the connection');
  return decodeResponse(out);
}
