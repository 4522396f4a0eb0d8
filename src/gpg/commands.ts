import { ConfigError } from '../errors.js';
import { armor, readOpenPgpData } from '../openpgp/armor.js';
import { makeCertificate } from '../openpgp/certificate.js';
import { HashAlgorithm, KeyFlag, PacketTag } from '../openpgp/constants.js';
import { algorithmId, describeKey, keyIdOf, type KeyMaterial } from '../openpgp/key.js';
import { parsePackets, toHex } from '../openpgp/packet.js';
import { documentSignature, parseSignaturePacketBody, type ParsedSignature } from '../openpgp/signature.js';
import { verifySignature } from '../openpgp/verify.js';
import { equalBytes } from '../wire/bytes.js';
import { AgentClient } from './agent-client.js';
import type { GpgArgs } from './args.js';
import { listCardKeys, signWithCard, type CardKey, type CardKeys } from './card-keys.js';
import { certificateDir, certificateHolding, loadCertificates, type KnownCertificate } from './certificates.js';
import { StatusWriter, type GpgIo } from './io.js';
import { selectSigningKey } from './select.js';

/** gpg's exit codes: 0 good, 1 a bad signature, 2 any other error. */
export const GPG_EXIT = { OK: 0, BAD_SIGNATURE: 1, ERROR: 2 } as const;

/** The hash GnuPG 2.2 picks for a key: SHA-256, or the curve's size for P-384 / P-521. */
export function hashFor(m: KeyMaterial): number {
  if (m.algorithm === 'ecdsa' && m.curve === 'p384') return HashAlgorithm.SHA384;
  if (m.algorithm === 'ecdsa' && m.curve === 'p521') return HashAlgorithm.SHA512;
  return HashAlgorithm.SHA256;
}

/** What git is signing, from the payload's first line: for the agent's log and prompts. */
export function purposeOf(payload: Uint8Array): string {
  const head = Buffer.from(payload.subarray(0, 16)).toString('latin1');
  if (head.startsWith('tree ')) return 'git commit';
  if (head.startsWith('object ')) return 'git tag';
  if (head.startsWith('certificate ')) return 'git push certificate';
  return 'data';
}

const sigDate = (t: number): string => new Date(t * 1000).toISOString().slice(0, 10);

async function withAgent<T>(io: GpgIo, f: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = await AgentClient.connect(io.env['SSH_AUTH_SOCK']);
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

/** `-bsau KEY` (git's signing call): a detached signature of stdin (or the named file). */
export async function sign(args: GpgArgs, io: GpgIo): Promise<number> {
  if (!args.detach) throw new ConfigError('only detached signatures (-b / --detach-sign) are made here, as git asks for');
  if (args.localUser === undefined) throw new ConfigError('name the key with -u KEYID (git passes user.signingkey, or the committer)');
  const status = new StatusWriter(io, args.statusFd);
  const payload = args.rest[0] !== undefined && args.rest[0] !== '-' ? await io.readFile(args.rest[0]) : await io.readStdin();
  const certs = await loadCertificates(io);
  const packet = await withAgent(io, async (client) => {
    const cards = await listCardKeys(client);
    const choice = selectSigningKey(args.localUser!, cards, certs);
    const key = choice.key;
    const hash = hashFor(key.key.material);
    const created = Math.max(io.now(), key.key.created);
    const pending = documentSignature({ key: key.key, fingerprint: key.fingerprint }, payload, { hashAlgorithm: hash, created, signersUserId: choice.byEmail });
    await status.line('KEY_CONSIDERED', toHex(choice.primaryFingerprint), 0);
    await status.line('BEGIN_SIGNING', `H${hash}`);
    const raw = await signWithCard(client, key, hash, pending.digest, purposeOf(payload));
    const out = pending.finish(raw);
    // GnuPG's SIG_CREATED: type (D detached), algorithm, hash, class, time, signing key fingerprint.
    await status.line('SIG_CREATED', 'D', algorithmId(key.key.material), hash, '00', created, toHex(key.fingerprint));
    return out;
  });
  const data = args.armor ? armor('SIGNATURE', packet) : packet;
  if (args.output !== undefined && args.output !== '-') await io.writeFile(args.output, data);
  else await io.writeStdout(data);
  return GPG_EXIT.OK;
}

/** The GnuPG to hand verification to: $OPENPGP_CARD_AGENT_GPG, else `gpg` on PATH; "none" for ourselves. */
export function gnupgFor(io: GpgIo, findOnPath: (name: string) => string | undefined): string | undefined {
  // Set by us when we hand over, so a gpg that is really this program does not loop.
  if (io.env['OPENPGP_CARD_AGENT_GPG_HANDOVER'] === '1') return undefined;
  const named = io.env['OPENPGP_CARD_AGENT_GPG'];
  if (named === 'none') return undefined;
  if (named !== undefined && named !== '') return named;
  return findOnPath('gpg');
}

/** `--verify SIG [DATA|-]`: GnuPG when installed, else our own check against the cards' keys. */
export async function verify(args: GpgArgs, io: GpgIo, gnupg: string | undefined): Promise<number> {
  if (gnupg !== undefined && io.runGnupg !== undefined) return io.runGnupg(gnupg, args.argv);
  const status = new StatusWriter(io, args.statusFd);
  const [sigFile, dataFile] = args.rest;
  if (sigFile === undefined) throw new ConfigError('--verify wants the signature file (and the data, or - for stdin)');
  const sigBytes = readOpenPgpData(sigFile === '-' ? await io.readStdin() : await io.readFile(sigFile));
  const data = dataFile === undefined || dataFile === '-' ? await io.readStdin() : await io.readFile(dataFile);
  const sigs: ParsedSignature[] = [];
  for (const block of sigBytes) for (const p of parsePackets(block)) if (p.tag === PacketTag.SIGNATURE) sigs.push(parseSignaturePacketBody(p.body));
  if (sigs.length !== 1) throw new ConfigError(`expected one signature, found ${sigs.length}`);
  const sig = sigs[0]!;
  const keyId = sig.issuerKeyId === undefined ? '0000000000000000' : toHex(sig.issuerKeyId);
  const certs = await loadCertificates(io);
  const cards = await withAgent(io, listCardKeys).catch(async (err: unknown) => {
    await io.writeStderr(`openpgp-card-agent gpg: cannot ask the agent for the cards' keys: ${err instanceof Error ? err.message : String(err)}\n`);
    return [] as CardKeys[];
  });
  const card = cards.find((c) => (sig.issuerFingerprint !== undefined ? toHex(c.signature.fingerprint) === toHex(sig.issuerFingerprint) : toHex(keyIdOf(c.signature.fingerprint)) === keyId));
  const created = sig.created ?? 0;
  await status.line('NEWSIG');
  await io.writeStderr(`openpgp-card-agent gpg: Signature made ${new Date(created * 1000).toUTCString()}\nopenpgp-card-agent gpg:                using key ${sig.issuerFingerprint === undefined ? keyId : toHex(sig.issuerFingerprint)}\n`);
  if (card === undefined) {
    await status.line('ERRSIG', keyId, sig.publicKeyAlgorithm, sig.hashAlgorithm, hex2(sig.type), created, 9, sig.issuerFingerprint === undefined ? '-' : toHex(sig.issuerFingerprint));
    await status.line('NO_PUBKEY', keyId);
    await io.writeStderr(`openpgp-card-agent gpg: Can't check signature: no plugged card has key ${keyId} (and GnuPG is not installed)\n`);
    return GPG_EXIT.ERROR;
  }
  const key: CardKey = card.signature;
  const cert = certificateHolding(certs, key.fingerprint);
  const primary = cert?.certificate.primary.fingerprint ?? key.fingerprint;
  const who = cert?.validUserIds[0] ?? `[card ${card.ident}]`;
  const longId = toHex(keyIdOf(key.fingerprint));
  await status.line('KEY_CONSIDERED', toHex(primary), 0);
  if (sig.type !== 0x00 && sig.type !== 0x01) {
    await status.line('BADSIG', longId, who);
    await io.writeStderr(`openpgp-card-agent gpg: BAD signature from "${who}": not a document signature (type ${hex2(sig.type)})\n`);
    return GPG_EXIT.BAD_SIGNATURE;
  }
  const outcome = verifySignature(sig, key.key.material, [sig.type === 0x01 ? canonicalText(data) : data]);
  if (outcome.status !== 'good') {
    await status.line('BADSIG', longId, who);
    await io.writeStderr(`openpgp-card-agent gpg: BAD signature from "${who}" (${outcome.reason})\n`);
    return GPG_EXIT.BAD_SIGNATURE;
  }
  await status.line('GOODSIG', longId, who);
  // VALIDSIG: fingerprint, date, time, expiry, reserved, version, algorithm, hash, class, primary.
  await status.line('VALIDSIG', toHex(key.fingerprint), sigDate(created), created, 0, 4, 0, sig.publicKeyAlgorithm, sig.hashAlgorithm, hex2(sig.type), toHex(primary));
  // The key is on the user's own card, as GnuPG marks keys whose secret part it holds.
  await status.line('TRUST_ULTIMATE', 0, 'pgp');
  await io.writeStderr(`openpgp-card-agent gpg: Good signature from "${who}" (key on card ${card.ident})\n`);
  return GPG_EXIT.OK;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** Text signatures (0x01) hash the text with CRLF line ends (RFC 9580 §5.2.1.2). */
function canonicalText(data: Uint8Array): Uint8Array {
  return new TextEncoder().encode(Buffer.from(data).toString('utf8').replace(/\r?\n/g, '\r\n'));
}

/** `--export --uid "Name <email>" [--armor] [KEY]`: a certificate for the card's keys, signed on the card. */
export async function exportCertificate(args: GpgArgs, io: GpgIo): Promise<number> {
  const cert = await withAgent(io, async (client) => {
    const cards = await listCardKeys(client);
    const spec = args.rest[0] ?? args.localUser;
    let certs: KnownCertificate[] | undefined;
    const known = async (): Promise<KnownCertificate[]> => (certs ??= await loadCertificates(io));
    const card = spec === undefined ? onlyCard(cards) : selectSigningKey(spec, cards, await known()).card;
    if (args.uid === undefined) {
      const mine = (await known()).find((k) => equalBytes(k.certificate.primary.fingerprint, card.signature.fingerprint));
      if (mine === undefined) throw new ConfigError(`no certificate for card ${card.ident} is known: make one with --export --uid "Your Name <you@example.org>"`);
      return (await io.readFile(mine.file)).slice();
    }
    if (!card.signature.matchesCard) {
      throw new ConfigError(
        `card ${card.ident}: its signature key and generation time give fingerprint ${toHex(card.signature.fingerprint)}, not the one the card stores; ` +
          'a certificate made from them would not name the card\'s key. Was the key written by a tool that stored another time?',
      );
    }
    const subkeys: { key: CardKey; flags: number }[] = [];
    for (const [k, flags] of [
      [card.authentication, KeyFlag.AUTHENTICATE],
      [card.decryption, KeyFlag.ENCRYPT_COMMUNICATIONS | KeyFlag.ENCRYPT_STORAGE],
    ] as const) {
      if (k === undefined) continue;
      if (!k.matchesCard) {
        await io.writeStderr(`openpgp-card-agent gpg: leaving out the ${k.slot} key of card ${card.ident}: its fingerprint cannot be rebuilt to match the card's\n`);
        continue;
      }
      if (toHex(k.fingerprint) === toHex(card.signature.fingerprint)) continue;
      subkeys.push({ key: k, flags });
    }
    const hash = hashFor(card.signature.key.material);
    const created = Math.max(io.now(), card.signature.key.created, ...subkeys.map((s) => s.key.key.created));
    return makeCertificate({
      primary: card.signature.key,
      userId: args.uid,
      subkeys: subkeys.map((s) => ({ key: s.key.key, flags: s.flags })),
      hashAlgorithm: hash,
      created,
      sign: (p) => signWithCard(client, card.signature, p.hashAlgorithm, p.digest, 'certificate'),
    });
  });
  const binary = readOpenPgpData(cert)[0] ?? cert;
  const out = args.armor ? armor('PUBLIC KEY BLOCK', binary) : binary;
  if (args.output !== undefined && args.output !== '-') await io.writeFile(args.output, out);
  else await io.writeStdout(out);
  return GPG_EXIT.OK;
}

function onlyCard(cards: readonly CardKeys[]): CardKeys {
  if (cards.length === 1) return cards[0]!;
  if (cards.length === 0) throw new ConfigError('the agent lists no card with an OpenPGP signature key');
  throw new ConfigError(`several cards are plugged (${cards.map((c) => c.ident).join(', ')}): name one by its signature key fingerprint`);
}

/** `-K`: the cards' signature keys, in the spirit of gpg --list-secret-keys. */
export async function listKeys(_args: GpgArgs, io: GpgIo): Promise<number> {
  const certs = await loadCertificates(io);
  const cards = await withAgent(io, listCardKeys);
  if (cards.length === 0) {
    await io.writeStdout('No card with an OpenPGP signature key.\n');
    return GPG_EXIT.OK;
  }
  for (const c of cards) {
    const k = c.signature;
    const cert = certificateHolding(certs, k.fingerprint);
    const lines = [
      `sec>  ${describeKey(k.key.material)} ${sigDate(k.key.created)} [S]`,
      `      ${toHex(k.fingerprint)}`,
      `      Card ${c.ident}${k.matchesCard ? '' : '  (the card stores another fingerprint)'}`,
      ...(cert === undefined ? [`      (no certificate known in ${certificateDir(io.env)})`] : cert.validUserIds.map((u) => `uid           ${u}`)),
      '',
    ];
    await io.writeStdout(`${lines.join('\n')}\n`);
  }
  return GPG_EXIT.OK;
}
