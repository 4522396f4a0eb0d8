import { connect, type Socket } from 'node:net';
import { decodeResponse } from '../protocol/response.js';
import { encodeRequest } from '../protocol/request.js';
import type { Request, Response } from '../protocol/messages.js';
import { FrameSplitter } from '../server/framing.js';

/** A minimal ssh-agent client over one connection: one request at a time, in order. */
export class AgentClient {
  private readonly waiters: ((r: Response) => void)[] = [];

  private constructor(private readonly socket: Socket) {
    const splitter = new FrameSplitter((body) => this.waiters.shift()?.(decodeResponse(body)));
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  }

  static connect(path: string): Promise<AgentClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ path }, () => resolve(new AgentClient(s)));
      s.once('error', reject);
    });
  }

  request(req: Request): Promise<Response> {
    const body = encodeRequest(req);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.set(body, 4);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.socket.write(frame);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
