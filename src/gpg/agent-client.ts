import { connect, type Socket } from 'node:net';
import { AgentError, CardUnavailableError } from '../errors.js';
import type { Request, Response } from '../protocol/messages.js';
import { encodeRequest } from '../protocol/request.js';
import { decodeResponse } from '../protocol/response.js';
import { encodeFrame, FrameSplitter } from '../server/framing.js';

/** The agent on SSH_AUTH_SOCK could not be reached, or hung up. */
export class AgentUnreachableError extends CardUnavailableError {
  override readonly code = 'E_AGENT_UNREACHABLE';
}

/**
 * An ssh-agent client over one unix socket connection: one request at a time. The socket is
 * whatever SSH_AUTH_SOCK names: our agent, or, through `ssh -A`, sshd's forwarding socket.
 * The benchmarks (src/bench) use it too, as their request/response client.
 */
export class AgentClient {
  private waiter: { resolve: (r: Response) => void; reject: (e: Error) => void; type: Request['type'] } | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    const splitter = new FrameSplitter((body) => {
      const w = this.waiter;
      this.waiter = undefined;
      if (w === undefined) return;
      try {
        w.resolve(decodeResponse(body, w.type));
      } catch (err) {
        w.reject(err as Error);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err) => this.fail(new AgentUnreachableError(`the agent connection failed: ${err.message}`)));
    socket.on('close', () => this.fail(new AgentUnreachableError('the agent closed the connection')));
  }

  static connect(path: string | undefined, timeoutMs = 10_000): Promise<AgentClient> {
    if (path === undefined || path === '') {
      return Promise.reject(new AgentUnreachableError('SSH_AUTH_SOCK is not set: start openpgp-card-agent (eval "$(openpgp-card-agent -s)"), or log in with ssh -A'));
    }
    return new Promise((resolve, reject) => {
      const s = connect({ path });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new AgentUnreachableError(`the agent on ${path} did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new AgentClient(s));
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new AgentUnreachableError(`cannot reach the agent on ${path} (SSH_AUTH_SOCK): ${err.message}`));
      });
    });
  }

  request(req: Request): Promise<Response> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (this.waiter !== undefined) return Promise.reject(new AgentError('one agent request at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, type: req.type };
      this.socket.write(encodeFrame(encodeRequest(req)));
    });
  }

  close(): void {
    this.closedError ??= new AgentUnreachableError('connection closed');
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}
