import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** The background log: 1 MiB a file, and three older generations (agent.log.1 .. agent.log.3). */
export const LOG_FILE_MAX_BYTES = 1024 * 1024;
export const LOG_FILE_GENERATIONS = 3;

export interface RotatingFileOptions {
  readonly maxBytes?: number;
  /** How many rotated files to keep beside the current one. */
  readonly generations?: number;
}

/**
 * An append-only log file that rotates itself: when a write would take it past `maxBytes`, the
 * file becomes `PATH.1` (and `PATH.1` becomes `PATH.2` ...; the oldest is dropped) and a new
 * `PATH` is started. Writes are synchronous, so nothing is lost when the process exits.
 * Created 0600: a log names cards and hosts.
 */
export class RotatingFile {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly generations: number;
  private fd: number;
  private size: number;

  constructor(path: string, opts: RotatingFileOptions = {}) {
    this.path = path;
    this.maxBytes = opts.maxBytes ?? LOG_FILE_MAX_BYTES;
    this.generations = opts.generations ?? LOG_FILE_GENERATIONS;
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off);
    this.size += bytes.length;
  }

  /** Rotates now (also used by the parent of a background agent when the file is already full). */
  rotate(): void {
    closeSync(this.fd);
    if (this.generations > 0) {
      rmSync(`${this.path}.${this.generations}`, { force: true });
      for (let g = this.generations - 1; g >= 1; g--) renameQuietly(`${this.path}.${g}`, `${this.path}.${g + 1}`);
      renameQuietly(this.path, `${this.path}.1`);
    } else {
      rmSync(this.path, { force: true });
    }
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function renameQuietly(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
