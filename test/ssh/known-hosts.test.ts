import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAuthorizedKey } from '../../src/ssh/authorized-keys.js';
import { KnownHosts, displayHostName, knownHostsName, lookupName, nameHostKey, parseKnownHosts } from '../../src/ssh/known-hosts.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/agent/ssh-add-h');
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const hasKeygen = existsSync(SSH_KEYGEN);
if (!hasKeygen && process.env['CI'] === 'true') throw new Error(`${SSH_KEYGEN} is required in CI`);

const plainText = readFileSync(join(FIXTURES, 'known_hosts'), 'utf8');
const hashedText = readFileSync(join(FIXTURES, 'known_hosts.hashed'), 'utf8');
const keyOf = (line: string): Uint8Array => parseAuthorizedKey(line.split(' ').slice(-2).join(' ')).keyBlob;
const [lineA, lineB] = plainText.split('\n');
const HOST_A = keyOf(lineA!);
const HOST_B = keyOf(lineB!);

describe('known_hosts parsing and lookup by name', () => {
  it('reads plain, hashed and @cert-authority lines and skips the rest', () => {
    const entries = parseKnownHosts(`# comment\n\n${plainText}garbage line\n@unknown x ssh-ed25519 AAAA\n`, 'kh');
    expect(entries.map((e) => [e.line, e.marker, e.hosts.kind])).toEqual([
      [3, null, 'patterns'],
      [4, null, 'patterns'],
      [5, 'cert-authority', 'patterns'],
    ]);
    expect(parseKnownHosts(hashedText).map((e) => e.hosts.kind)).toEqual(['hashed', 'hashed', 'hashed', 'patterns']);
  });

  it.skipIf(!hasKeygen)('finds the lines ssh-keygen -F finds, in plain and hashed files', () => {
    for (const [text, file] of [
      [plainText, 'known_hosts'],
      [hashedText, 'known_hosts.hashed'],
    ] as const) {
      const entries = parseKnownHosts(text);
      for (const name of ['hosta', 'HostA', '[hosta]:2222', 'hostb', 'hostc', '[hostb]:2222', 'web.example.test']) {
        const r = spawnSync(SSH_KEYGEN, ['-F', name, '-f', join(FIXTURES, file)], { encoding: 'utf8' });
        const theirs = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
        expect(lookupName(entries, name).length, `${file}: ${name}`).toBe(theirs);
      }
    }
  });

  it('honours negated patterns and wildcards, case-insensitively', () => {
    const entries = parseKnownHosts(`*.corp.example,!bad.corp.example ${lineA!.split(' ').slice(1).join(' ')}\n`);
    expect(lookupName(entries, 'Web.Corp.Example')).toHaveLength(1);
    expect(lookupName(entries, 'bad.corp.example')).toHaveLength(0);
    expect(knownHostsName('Host', 22)).toBe('host');
    expect(knownHostsName('host', 2222)).toBe('[host]:2222');
  });
});

describe('naming a host key', () => {
  it('plain lines give their literal name; hashed lines only a candidate they match', () => {
    expect(nameHostKey(parseKnownHosts(plainText, 'kh'), HOST_A)).toEqual({ name: 'hosta', revoked: false, source: 'kh:1' });
    const hashed = parseKnownHosts(hashedText, 'kh');
    expect(nameHostKey(hashed, HOST_B)).toEqual({ revoked: false });
    expect(nameHostKey(hashed, HOST_B, ['hosta', 'hostb'])).toEqual({ name: 'hostb', revoked: false, source: 'kh:3' });
  });

  it('@revoked keys get no name; unknown keys fall back to the fingerprint', () => {
    const revoked = parseKnownHosts(`${plainText}@revoked * ${lineA!.split(' ').slice(1).join(' ')}\n`);
    expect(nameHostKey(revoked, HOST_A)).toEqual({ revoked: true });
    expect(displayHostName(HOST_A, nameHostKey(revoked, HOST_A))).toMatch(/^SHA256:/);
    expect(displayHostName(HOST_A, nameHostKey(parseKnownHosts(plainText), HOST_A))).toBe('hosta');
  });

  it.skipIf(!hasKeygen)('names a host certificate by a principal that an @cert-authority line covers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kh-'));
    try {
      execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
      execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
      execFileSync(SSH_KEYGEN, ['-q', '-s', join(dir, 'ca'), '-I', 'web', '-h', '-n', 'web,web.example.test', join(dir, 'host.pub')]);
      const cert = parseAuthorizedKey(readFileSync(join(dir, 'host-cert.pub'), 'utf8')).keyBlob;
      const caLine = readFileSync(join(dir, 'ca.pub'), 'utf8').trim();
      const ca = parseKnownHosts(`@cert-authority *.example.test ${caLine}\n`, 'kh');
      expect(nameHostKey(ca, cert)).toEqual({ name: 'web.example.test', revoked: false, source: 'kh:1' });
      // A CA line for other names, or another CA: no name.
      expect(nameHostKey(parseKnownHosts(`@cert-authority *.other.test ${caLine}\n`), cert)).toEqual({ revoked: false });
      expect(nameHostKey(parseKnownHosts(plainText), cert)).toEqual({ revoked: false });
      // The CA revoked: no name.
      expect(nameHostKey(parseKnownHosts(`@cert-authority *.example.test ${caLine}\n@revoked * ${caLine}\n`), cert).revoked).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('KnownHosts reads its files, treats missing ones as empty, and notices changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kh-'));
    try {
      const file = join(dir, 'known_hosts');
      const kh = new KnownHosts([join(dir, 'missing'), file]);
      expect(await kh.nameFor(HOST_A)).toEqual({ revoked: false });
      writeFileSync(file, plainText);
      expect((await kh.nameFor(HOST_A)).name).toBe('hosta');
      writeFileSync(file, `renamed ${lineA!.split(' ').slice(1).join(' ')}\n`);
      expect((await kh.nameFor(HOST_A)).name).toBe('renamed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
