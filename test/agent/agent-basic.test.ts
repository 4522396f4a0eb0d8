import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { decodeResponse } from '../../src/protocol/response.js';
import { encodeRequest } from '../../src/protocol/request.js';
import type { Request } from '../../src/protocol/messages.js';
import { Secret } from '../../src/secret.js';
import type { ConnectionContext } from '../../src/server/frame-handler.js';

const silent = pino({ level: 'silent' });
const conn: ConnectionContext = { id: 1, log: silent };

async function ask(agent: Agent, req: Request) {
  const out = await agent.handleFrame(encodeRequest(req), conn);
  if (out === null) throw new Error('agent closed the connection');
  return decodeResponse(out);
}

describe('Agent without a key provider', () => {
  it('lists no identities', async () => {
    const agent = new Agent({ log: silent });
    expect(await ask(agent, { type: 'request-identities' })).toEqual({ type: 'identities-answer', identities: [] });
  });

  it('locks and unlocks with the same passphrase only', async () => {
    const agent = new Agent({ log: silent, unlockDelayMs: 0 });
    expect(await ask(agent, { type: 'lock', passphrase: new Secret('pw') })).toEqual({ type: 'success' });
    expect(agent.locked).toBe(true);
    expect(await ask(agent, { type: 'lock', passphrase: new Secret('pw') })).toEqual({ type: 'failure' });
    expect(await ask(agent, { type: 'unlock', passphrase: new Secret('wrong') })).toEqual({ type: 'failure' });
    expect(agent.locked).toBe(true);
    expect(await ask(agent, { type: 'unlock', passphrase: new Secret('pw') })).toEqual({ type: 'success' });
    expect(agent.locked).toBe(false);
    expect(await ask(agent, { type: 'unlock', passphrase: new Secret('pw') })).toEqual({ type: 'failure' });
  });

  it('answers FAILURE to garbage and unknown types', async () => {
    const agent = new Agent({ log: silent });
    expect(decodeResponse((await agent.handleFrame(Uint8Array.of(13, 0, 0), conn))!)).toEqual({ type: 'failure' });
    expect(decodeResponse((await agent.handleFrame(Uint8Array.of(200, 1, 2), conn))!)).toEqual({ type: 'failure' });
  });
});
