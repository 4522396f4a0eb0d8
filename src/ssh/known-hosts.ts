import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkHostCertificate, isCertificateBlob, parseCertificate, type SshCertificate } from './certificate.js';
import { sha256Fingerprint } from './fingerprint.js';
import { matchPattern } from './match-pattern.js';
import { encodePublicKey, publicKeyType, sameKey } from './public-key.js';

/**
 * Host names for host keys, from OpenSSH known_hosts files (sshd(8) "SSH_KNOWN_HOSTS FILE
 * FORMAT"): plain pattern lists (`a,b,!c`, `*.example.com`, `[host]:2222`), hashed entries
 * (`|1|salt|hmac-sha1`), `@cert-authority` lines for host certificates and `@revoked` lines.
 * The agent uses this only to *name* hosts in prompts and logs; trust decisions stay with ssh.
 */

/** One key line of a known_hosts file. */
export interface KnownHostEntry {
  readonly file: string;
  readonly line: number;
  readonly marker: 'cert-authority' | 'revoked' | null;
  /** The host field: a comma-separated pattern list, or one hashed name. */
  readonly hosts: { readonly kind: 'patterns'; readonly patterns: readonly string[] } | { readonly kind: 'hashed'; readonly salt: Buffer; readonly hash: Buffer };
  /** The key's public blob. */
  readonly keyBlob: Uint8Array;
}

/** The known_hosts files OpenSSH reads by default (UserKnownHostsFile, GlobalKnownHostsFile). */
export function defaultKnownHostsFiles(home: string = homedir()): string[] {
  return [
    join(home, '.ssh', 'known_hosts'),
    join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2',
  ];
}

const HASH_MAGIC = '|1|';

function parseHostField(field: string): KnownHostEntry['hosts'] | null {
  if (field.startsWith(HASH_MAGIC)) {
    const parts = field.slice(HASH_MAGIC.length).split('|');
    if (parts.length !== 2) return null;
    const salt = Buffer.from(parts[0]!, 'base64');
    const hash = Buffer.from(parts[1]!, 'base64');
    // SHA-1 sized salt and digest, as hostfile.c extract_salt insists.
    if (salt.length !== 20 || hash.length !== 20) return null;
    return { kind: 'hashed', salt, hash };
  }
  const patterns = field.split(',').filter((p) => p !== '');
  return patterns.length === 0 ? null : { kind: 'patterns', patterns };
}

/** Parses a known_hosts text; lines that are not key lines (comments, blanks, garbage) are skipped. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@') === true) {
      const m = fields.shift();
      if (m === '@cert-authority') marker = 'cert-authority';
      else if (m === '@revoked') marker = 'revoked';
      else continue;
    }
    const [hostField, keyType, keyData] = fields;
    if (hostField === undefined || keyType === undefined || keyData === undefined) continue;
    const hosts = parseHostField(hostField);
    if (hosts === null) continue;
    const keyBlob = new Uint8Array(Buffer.from(keyData, 'base64'));
    if (!blobHasType(keyBlob, keyType)) continue;
    out.push({ file, line: i + 1, marker, hosts, keyBlob });
  }
  return out;
}

function blobHasType(blob: Uint8Array, type: string): boolean {
  try {
    return publicKeyType(blob) === type;
  } catch {
    return false;
  }
}

/** The name ssh looks up for host and port: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port = 22): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/**
 * Does `entry` name host `name` (in knownHostsName form)? As OpenSSH hostfile.c: a negated
 * pattern that matches wins and patterns are case-insensitive; a hashed entry is
 * HMAC-SHA1(salt, name) of the name exactly as given (ssh lowercases host names before it looks).
 */
export function entryMatchesName(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.kind === 'hashed') {
    const mac = createHmac('sha1', entry.hosts.salt).update(name).digest();
    return timingSafeEqual(mac, entry.hosts.hash);
  }
  const lower = name.toLowerCase();
  let positive = false;
  for (const raw of entry.hosts.patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (matchPattern(lower, pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

/** Entries for `name` (as `ssh-keygen -F` finds them). */
export function lookupName(entries: readonly KnownHostEntry[], name: string): KnownHostEntry[] {
  return entries.filter((e) => entryMatchesName(e, name));
}

/** A literal name from a plain entry (first non-negated pattern without wildcards). */
function literalName(entry: KnownHostEntry): string | undefined {
  if (entry.hosts.kind !== 'patterns') return undefined;
  return entry.hosts.patterns.find((p) => !p.startsWith('!') && !/[*?]/.test(p));
}

export interface HostNameResult {
  /** The host's name from known_hosts, if one was found. */
  readonly name?: string;
  /** The key (or the CA that certified it) is marked @revoked. */
  readonly revoked: boolean;
  /** Where the name came from, e.g. "~/.ssh/known_hosts:12". */
  readonly source?: string;
}

/**
 * Names a host key: a plain line with this key (its literal name, or the first candidate the
 * line matches — the only way to name a hashed line), or, for a host certificate, a
 * `@cert-authority` line for its CA whose patterns match one of its principals (or a
 * candidate) that the certificate is valid for. `@revoked` keys get no name.
 */
export function nameHostKey(
  entries: readonly KnownHostEntry[],
  hostKey: Uint8Array,
  candidates: readonly string[] = [],
  nowSeconds: bigint = BigInt(Math.floor(Date.now() / 1000)),
): HostNameResult {
  // ssh looks hosts up lowercased; ssh-add -h names are taken as typed. Try both.
  candidates = [...new Set(candidates.flatMap((c) => [c, c.toLowerCase()]))];
  let cert: SshCertificate | undefined;
  if (isCertificateBlob(hostKey)) {
    try {
      cert = parseCertificate(hostKey);
    } catch {
      return { revoked: false };
    }
  }
  const keysToCheck = cert === undefined ? [hostKey] : [hostKey, encodePublicKey(cert.key), cert.signatureKey];
  if (entries.some((e) => e.marker === 'revoked' && keysToCheck.some((k) => sameKey(k, e.keyBlob)))) return { revoked: true };
  const where = (e: KnownHostEntry): string => `${e.file}:${e.line}`;
  if (cert === undefined) {
    for (const e of entries) {
      if (e.marker !== null || !sameKey(e.keyBlob, hostKey)) continue;
      const name = literalName(e) ?? candidates.find((c) => entryMatchesName(e, c));
      if (name !== undefined) return { name, revoked: false, source: where(e) };
    }
    return { revoked: false };
  }
  const names = [...cert.principals, ...candidates];
  for (const e of entries) {
    if (e.marker !== 'cert-authority' || !sameKey(e.keyBlob, cert.signatureKey)) continue;
    const name = names.find((n) => entryMatchesName(e, n) && checkHostCertificate(cert, n, nowSeconds) === null);
    if (name !== undefined) return { name, revoked: false, source: where(e) };
  }
  return { revoked: false };
}

/** What the agent asks: a display name for a bound host key. */
export interface HostNamer {
  /** The host's name, or undefined (the caller shows the fingerprint). Never throws. */
  nameFor(hostKey: Uint8Array, candidates?: readonly string[]): Promise<HostNameResult>;
}

/** A name for display: the known_hosts name, else the key's SHA256 fingerprint. */
export function displayHostName(hostKey: Uint8Array, result: HostNameResult | undefined): string {
  return result?.name ?? sha256Fingerprint(hostKey);
}

/**
 * Reads known_hosts files (re-read when their mtime or size changes; a missing or unreadable
 * file counts as empty) and names host keys from them.
 */
export class KnownHosts implements HostNamer {
  readonly #files: readonly string[];
  readonly #cache = new Map<string, { stamp: string; entries: KnownHostEntry[] }>();

  constructor(files: readonly string[] = defaultKnownHostsFiles()) {
    this.#files = files;
  }

  async entries(): Promise<KnownHostEntry[]> {
    const all: KnownHostEntry[] = [];
    for (const file of this.#files) all.push(...(await this.#load(file)));
    return all;
  }

  async nameFor(hostKey: Uint8Array, candidates: readonly string[] = []): Promise<HostNameResult> {
    return nameHostKey(await this.entries(), hostKey, candidates);
  }

  async #load(file: string): Promise<KnownHostEntry[]> {
    try {
      const st = await stat(file);
      const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      const cached = this.#cache.get(file);
      if (cached?.stamp === stamp) return cached.entries;
      const entries = parseKnownHosts(await readFile(file, 'utf8'), file);
      this.#cache.set(file, { stamp, entries });
      return entries;
    } catch {
      this.#cache.delete(file);
      return [];
    }
  }
}
