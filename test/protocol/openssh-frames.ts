import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One frame from fixtures/protocol/openssh-9.2p1-frames.jsonl, tagged with the command that sent it. */
export interface RecordedFrame {
  readonly command: string;
  readonly conn: number;
  readonly dir: 'request' | 'response';
  readonly body: Uint8Array;
}

const path = fileURLToPath(new URL('../../fixtures/protocol/openssh-9.2p1-frames.jsonl', import.meta.url));

export function loadOpenSshFrames(): RecordedFrame[] {
  const frames: RecordedFrame[] = [];
  let command = '';
  for (const line of readFileSync(path, 'utf8').trim().split('\n')) {
    const d = JSON.parse(line) as { marker?: string; conn?: number; dir?: 'request' | 'response'; hex?: string };
    if (d.marker !== undefined) {
      command = d.marker;
      continue;
    }
    frames.push({ command, conn: d.conn!, dir: d.dir!, body: new Uint8Array(Buffer.from(d.hex!, 'hex')) });
  }
  return frames;
}

export function framesOf(command: string, dir?: 'request' | 'response'): RecordedFrame[] {
  const out = loadOpenSshFrames().filter((f) => f.command === command && (dir === undefined || f.dir === dir));
  if (out.length === 0) throw new Error(`no recorded frames for "${command}"`);
  return out;
}
