import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';

/** Every file `service install` writes carries this text (in the file format's comment syntax). */
export const MARKER = 'Written by `openpgp-card-agent service install`; `openpgp-card-agent service uninstall` removes it.';

/** A file to write: where, and its full text (which must contain MARKER). */
export interface PlannedFile {
  readonly path: string;
  readonly text: string;
  /** What it is, for the report ("systemd socket unit"). */
  readonly what: string;
  /** File mode (default 0644). */
  readonly mode?: number;
}

/** Whose a file is: absent, written by us (has the marker), or someone else's. */
export type Ownership = 'absent' | 'ours' | 'foreign';

export async function ownership(path: string): Promise<Ownership> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  return text.includes(MARKER) ? 'ours' : 'foreign';
}

/**
 * Writes the planned files, all or none: first every path is checked, and a file that exists
 * without our marker stops the install before anything is written. Returns, per file, whether
 * it was created, updated or already as planned.
 */
export async function writeOwnedFiles(files: readonly PlannedFile[]): Promise<Array<{ file: PlannedFile; result: 'created' | 'updated' | 'unchanged' }>> {
  const states = await Promise.all(files.map((f) => ownership(f.path)));
  const foreign = files.filter((_, i) => states[i] === 'foreign');
  if (foreign.length > 0) {
    throw new ConfigError(
      `refusing to overwrite ${foreign.map((f) => f.path).join(', ')}: not written by openpgp-card-agent (move ${foreign.length === 1 ? 'it' : 'them'} away to install)`,
    );
  }
  const out: Array<{ file: PlannedFile; result: 'created' | 'updated' | 'unchanged' }> = [];
  for (const [i, f] of files.entries()) {
    if (!f.text.includes(MARKER)) throw new Error(`planned file ${f.path} lacks the marker`);
    if (states[i] === 'ours' && (await readFile(f.path, 'utf8')) === f.text) {
      out.push({ file: f, result: 'unchanged' });
      continue;
    }
    await mkdir(dirname(f.path), { recursive: true, mode: 0o700 });
    await writeFile(f.path, f.text, { mode: f.mode ?? 0o644 });
    out.push({ file: f, result: states[i] === 'ours' ? 'updated' : 'created' });
  }
  return out;
}

/** Removes the files that are ours; leaves the others. */
export async function removeOwnedFiles(paths: readonly string[]): Promise<Array<{ path: string; result: 'removed' | 'absent' | 'left' }>> {
  const out: Array<{ path: string; result: 'removed' | 'absent' | 'left' }> = [];
  for (const path of paths) {
    const o = await ownership(path);
    if (o === 'ours') await rm(path, { force: true });
    out.push({ path, result: o === 'ours' ? 'removed' : o === 'absent' ? 'absent' : 'left' });
  }
  return out;
}
