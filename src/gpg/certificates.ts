import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readOpenPgpData } from '../openpgp/armor.js';
import { parseCertificates, type Certificate } from '../openpgp/certificate.js';
import { keyHashInput } from '../openpgp/key.js';
import { userIdHashInput } from '../openpgp/signature.js';
import { issuedBy, verifySignature } from '../openpgp/verify.js';
import { equalBytes } from '../wire/bytes.js';
import type { GpgIo } from './io.js';

/**
 * Where certificates come from: every *.asc, *.pgp, *.gpg and *.key file in one directory,
 * $OPENPGP_CARD_AGENT_CERTIFICATES, else $XDG_CONFIG_HOME/openpgp-card-agent/certificates
 * (~/.config/...). The user puts their certificate there (`gpg --export --armor ME > ...`, or our
 * `gpg --export --uid ...`), on the laptop and in each remote workspace; a dotfiles repository
 * carries it well. Only public data: nothing secret lives there.
 */
export function certificateDir(env: NodeJS.ProcessEnv): string {
  const explicit = env['OPENPGP_CARD_AGENT_CERTIFICATES'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const config = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(env['HOME'] ?? homedir(), '.config');
  return join(config, 'openpgp-card-agent', 'certificates');
}

export interface KnownCertificate {
  readonly certificate: Certificate;
  readonly file: string;
  /** User IDs whose self-signature verifies with the primary key. */
  readonly validUserIds: readonly string[];
}

/** A certificate's keys: its primary, then its subkeys. */
export function certificateKeys(k: KnownCertificate): Certificate['primary'][] {
  return [k.certificate.primary, ...k.certificate.subkeys.map((s) => s.key)];
}

/** The known certificate that holds the key with fingerprint `fpr`, as its primary or a subkey. */
export function certificateHolding(certs: readonly KnownCertificate[], fpr: Uint8Array): KnownCertificate | undefined {
  return certs.find((k) => certificateKeys(k).some((key) => equalBytes(key.fingerprint, fpr)));
}

/** Reads the certificate directory; a missing directory is no certificates, an unreadable file a warning. */
export async function loadCertificates(io: GpgIo): Promise<KnownCertificate[]> {
  const dir = certificateDir(io.env);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(asc|pgp|gpg|key)$/i.test(n)).sort();
  } catch {
    return [];
  }
  const out: KnownCertificate[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      for (const data of readOpenPgpData(await io.readFile(file))) {
        for (const certificate of parseCertificates(data)) out.push({ certificate, file, validUserIds: validUserIds(certificate) });
      }
    } catch (err) {
      await io.writeStderr(`openpgp-card-agent gpg: skipping ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return out;
}

/** User IDs bound to the primary key by a self-signature that verifies. */
function validUserIds(c: Certificate): string[] {
  const m = c.primary.material;
  if (m === undefined) return [];
  const keyInput = keyHashInput(c.primary.body);
  return c.userIds
    .filter((u) => u.signatures.some((s) => s.type >= 0x10 && s.type <= 0x13 && issuedBy(s, c.primary.fingerprint) && verifySignature(s, m, [keyInput, userIdHashInput(new TextEncoder().encode(u.text))]).status === 'good'))
    .map((u) => u.text);
}
