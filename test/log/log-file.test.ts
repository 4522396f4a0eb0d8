import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RotatingFile } from '../../src/log-file.js';
import { formatRecord } from '../../src/log-text.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('RotatingFile', () => {
  it('appends, rotates before a write would pass the limit, and keeps a bounded number of generations', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-log-'));
    dirs.push(dir);
    const path = join(dir, 'agent.log');
    const f = new RotatingFile(path, { maxBytes: 20, generations: 2 });
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) f.write(`line ${n}\n`); // 7 bytes each: 2 lines a file
    f.close();
    expect((await readdir(dir)).sort()).toEqual(['agent.log', 'agent.log.1', 'agent.log.2']);
    expect(await readFile(path, 'utf8')).toBe('line 7\nline 8\n');
    expect(await readFile(`${path}.1`, 'utf8')).toBe('line 5\nline 6\n');
    expect(await readFile(`${path}.2`, 'utf8')).toBe('line 3\nline 4\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // Reopened, it goes on appending where it was.
    const g = new RotatingFile(path, { maxBytes: 20, generations: 2 });
    g.write('x\n');
    g.close();
    expect(await readFile(path, 'utf8')).toBe('line 7\nline 8\nx\n');
  });

  it('writes a line longer than the limit on its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oca-log-'));
    dirs.push(dir);
    const path = join(dir, 'agent.log');
    const f = new RotatingFile(path, { maxBytes: 4, generations: 1 });
    f.write('long line\n');
    f.write('next\n');
    f.close();
    expect(await readFile(`${path}.1`, 'utf8')).toBe('long line\n');
    expect(await readFile(path, 'utf8')).toBe('next\n');
  });
});

describe('formatRecord', () => {
  const rec = { level: 50, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), pid: 1, target: 'pins', conn: 4, msg: 'could not\nstore', ident: '0006:1', err: { type: 'Error', message: 'no bus', stack: 'Error: no bus\n    at x' } };

  it('formats for files, journald and terminals, on one line', () => {
    expect(formatRecord(rec, 'file')).toBe('2026-01-02T03:04:05.006Z ERROR [pins] conn=4 could not\\nstore ident=0006:1 err="no bus"');
    expect(formatRecord(rec, 'journal')).toBe('<3>ERROR [pins] conn=4 could not\\nstore ident=0006:1 err="no bus"');
    expect(formatRecord(rec, 'tty')).toMatch(/^\d\d:\d\d:\d\d\.006 ERROR \[pins\] conn=4 /);
    expect(formatRecord({ level: 30, msg: 'x', n: 1.5, ok: true, list: [1, 2] }, 'journal')).toBe('<6>INFO x n=1.5 ok=true list=[1,2]');
  });
});
