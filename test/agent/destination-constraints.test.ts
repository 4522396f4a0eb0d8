import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkConstraints } from '../../src/agent/agent.js';
import {
  ConstraintError,
  MAX_DEST_CONSTRAINTS,
  checkSignRequest,
  describeConstraints,
  identityPermitted,
  matchKeyHop,
  parseDestinationConstraints,
  parseUserauthRequest,
  type BindingState,
  type DestinationConstraint,
} from '../../src/agent/destination-constraints.js';
import type { SessionBinding } from '../../src/agent/key-provider.js';
import { AgentError } from '../../src/errors.js';
import { decodeRequest } from '../../src/protocol/request.js';
import { parseAuthorizedKey } from '../../src/ssh/authorized-keys.js';
import { sha256Fingerprint } from '../../src/ssh/fingerprint.js';
import { matchPattern } from '../../src/ssh/match-pattern.js';
import { sshPublicKeyBlobFromKeyObject } from '../../src/ssh/verify.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/agent/ssh-add-h');

/** A test-side encoder of the wire format (PROTOCOL.agent §2), written from the spec, not from the parser. */
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function str(b: Uint8Array | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
  return Buffer.concat([u32(bytes.length), bytes]);
}
interface HopSpec {
  user?: string;
  host?: string;
  keys?: { blob: Uint8Array; ca?: boolean }[];
  ext?: Uint8Array;
}
function hop(h: HopSpec): Buffer {
  return Buffer.concat([
    str(h.user ?? ''),
    str(h.host ?? ''),
    str(h.ext ?? new Uint8Array()),
    ...(h.keys ?? []).map((k) => Buffer.concat([str(k.blob), Buffer.of(k.ca === true ? 1 : 0)])),
  ]);
}
function constraint(from: HopSpec, to: HopSpec, ext: Uint8Array = new Uint8Array()): Buffer {
  return str(Buffer.concat([str(hop(from)), str(hop(to)), str(ext)]));
}
function restrict(...constraints: Buffer[]): Uint8Array {
  return new Uint8Array(str(Buffer.concat(constraints)));
}

function hostKey(): Uint8Array {
  return sshPublicKeyBlobFromKeyObject(generateKeyPairSync('ed25519').publicKey);
}

function binding(key: Uint8Array, forwarding: boolean, sessionId: Uint8Array = new Uint8Array(randomBytes(32))): SessionBinding {
  return { hostKey: key, hostKeyFingerprint: sha256Fingerprint(key), forwarding, sessionId };
}

function state(...bindings: SessionBinding[]): BindingState {
  return { bindings, bindAttempted: bindings.length > 0 };
}

const A = hostKey();
const B = hostKey();
const C = hostKey();
const CARD = hostKey();

function rules(...c: Buffer[]): DestinationConstraint[] {
  return parseDestinationConstraints(restrict(...c));
}

describe('restrict-destination-v00@openssh.com parsing (parse_dest_constraint)', () => {
  it('reads what real ssh-add -h sent (OpenSSH 9.2p1, fixtures/agent/ssh-add-h)', () => {
    const body = new Uint8Array(Buffer.from(readFileSync(join(FIXTURES, 'add-smartcard-key-constrained.hex'), 'utf8').trim(), 'hex'));
    const req = decodeRequest(body);
    if (req.type !== 'add-smartcard-key-constrained') throw new Error(req.type);
    const checked = checkConstraints(req.constraints);
    expect(checked.forProvider).toEqual([]);
    expect(describeConstraints(checked.destinations!)).toEqual(['(ORIGIN) > hosta', 'hosta > git*@hostb', '(ORIGIN) > web.example.test']);
    const known = readFileSync(join(FIXTURES, 'known_hosts'), 'utf8').split('\n');
    const hosta = parseAuthorizedKey(known[0]!.split(' ').slice(1).join(' ')).keyBlob;
    const hostb = parseAuthorizedKey(known[1]!.split(' ').slice(1).join(' ')).keyBlob;
    const ca = parseAuthorizedKey(readFileSync(join(FIXTURES, 'ca.pub'), 'utf8')).keyBlob;
    const [d0, d1, d2] = checked.destinations!;
    expect(d0!.to.keys).toMatchObject([{ blob: hosta, isCa: false }]);
    expect(d1!.from.keys).toMatchObject([{ blob: hosta, isCa: false }]);
    expect(d1!.to).toMatchObject({ user: 'git*', hostname: 'hostb', keys: [{ blob: hostb, isCa: false }] });
    expect(d2!.to.keys).toMatchObject([{ blob: ca, isCa: true }]);
  });

  it('reads several keys per hop, users and CA flags', () => {
    const [d] = rules(constraint({ host: 'a', keys: [{ blob: A }] }, { user: 'git', host: 'b', keys: [{ blob: B }, { blob: C, ca: true }] }));
    expect(d).toMatchObject({
      from: { user: null, hostname: 'a', keys: [{ blob: A, isCa: false }] },
      to: { user: 'git', hostname: 'b', keys: [{ blob: B, isCa: false }, { blob: C, isCa: true }] },
    });
  });

  it('an empty list restricts nothing (ndest_constraints == 0)', () => {
    expect(parseDestinationConstraints(restrict())).toEqual([]);
    expect(checkConstraints([{ kind: 'extension', name: 'restrict-destination-v00@openssh.com', contents: restrict() }]).destinations).toBeUndefined();
  });

  it.each<[string, Buffer]>([
    ['a from-hop with a host but no keys', constraint({ host: 'a' }, { host: 'b', keys: [{ blob: B }] })],
    ['a from-hop with keys but no host', constraint({ keys: [{ blob: A }] }, { host: 'b', keys: [{ blob: B }] })],
    ['a from-hop with a user', constraint({ user: 'u', host: 'a', keys: [{ blob: A }] }, { host: 'b', keys: [{ blob: B }] })],
    ['a to-hop without keys', constraint({}, { host: 'b' })],
    ['a to-hop without host', constraint({}, { keys: [{ blob: B }] })],
    ['hop extensions', constraint({}, { host: 'b', keys: [{ blob: B }], ext: Uint8Array.of(1) })],
    ['constraint extensions', constraint({}, { host: 'b', keys: [{ blob: B }] }, Uint8Array.of(0, 0, 0, 0))],
    ['a user pattern over 256 bytes', constraint({}, { user: 'u'.repeat(257), host: 'b', keys: [{ blob: B }] })],
    ['an unreadable key', constraint({}, { host: 'b', keys: [{ blob: Uint8Array.of(0, 0, 0, 3, 0x61, 0x62, 0x63) }] })],
    ['a NUL in the hostname', constraint({}, { host: 'b\0c', keys: [{ blob: B }] })],
  ])('refuses %s', (_what, c) => {
    expect(() => parseDestinationConstraints(restrict(c))).toThrow(AgentError);
  });

  it('takes a 256-byte user pattern, and at most 1024 constraints', () => {
    expect(rules(constraint({}, { user: 'u'.repeat(256), host: 'b', keys: [{ blob: B }] }))).toHaveLength(1);
    const one = constraint({}, { host: 'b', keys: [{ blob: B }] });
    expect(parseDestinationConstraints(restrict(...Array<Buffer>(MAX_DEST_CONSTRAINTS).fill(one)))).toHaveLength(MAX_DEST_CONSTRAINTS);
    expect(() => parseDestinationConstraints(restrict(...Array<Buffer>(MAX_DEST_CONSTRAINTS + 1).fill(one)))).toThrow(/more than 1024/);
  });

  it('refuses every truncation and every extension of a valid encoding with an AgentError', () => {
    const full = restrict(
      constraint({}, { host: 'a', keys: [{ blob: A }] }),
      constraint({ host: 'a', keys: [{ blob: A }] }, { user: 'git', host: 'b', keys: [{ blob: B }, { blob: C, ca: true }] }),
    );
    expect(parseDestinationConstraints(full)).toHaveLength(2);
    for (let n = 0; n < full.length; n++) {
      expect(() => parseDestinationConstraints(full.subarray(0, n)), `prefix of ${n} bytes`).toThrow(AgentError);
    }
    expect(() => parseDestinationConstraints(new Uint8Array([...full, 0]))).toThrow(AgentError);
  });

  it('random and mutated bytes either parse or throw an AgentError, never anything else', () => {
    const valid = restrict(constraint({ host: 'a', keys: [{ blob: A }] }, { user: 'git', host: 'b', keys: [{ blob: B }] }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          parseDestinationConstraints(bytes);
        } catch (err) {
          if (!(err instanceof AgentError)) throw err;
        }
      }),
    );
    fc.assert(
      fc.property(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const mutated = Uint8Array.from(valid);
        mutated[at] = value;
        try {
          const parsed = parseDestinationConstraints(mutated);
          expect(parsed.length).toBeGreaterThanOrEqual(0);
        } catch (err) {
          if (!(err instanceof AgentError)) throw err;
        }
      }),
    );
  });
});

describe('checkConstraints (parse_key_constraints for a smartcard add)', () => {
  const dest = { kind: 'extension' as const, name: 'restrict-destination-v00@openssh.com', contents: restrict(constraint({}, { host: 'a', keys: [{ blob: A }] })) };

  it('passes lifetime and confirm on and keeps restrict-destination', () => {
    const c = checkConstraints([{ kind: 'lifetime', seconds: 60 }, { kind: 'confirm' }, dest]);
    expect(c.forProvider).toEqual([{ kind: 'lifetime', seconds: 60 }, { kind: 'confirm' }]);
    expect(c.destinations).toHaveLength(1);
  });

  it.each<[string, Parameters<typeof checkConstraints>[0], RegExp]>([
    ['a second lifetime', [{ kind: 'lifetime', seconds: 1 }, { kind: 'lifetime', seconds: 2 }], /lifetime already set/],
    ['a second confirm', [{ kind: 'confirm' }, { kind: 'confirm' }], /confirm already set/],
    ['a second restrict-destination', [dest, dest], /already set/],
    ['maxsign', [{ kind: 'maxsign', maxSignatures: 10 }], /maxsign/],
    ['sk-provider', [{ kind: 'extension', name: 'sk-provider@openssh.com', contents: new Uint8Array(str('internal')) }], /sk-provider@openssh\.com/],
    ['associated-certs', [{ kind: 'extension', name: 'associated-certs-v00@openssh.com', contents: Uint8Array.of(0, 0, 0, 0, 0) }], /associated-certs/],
    ['an unknown extension', [{ kind: 'extension', name: 'toString', contents: new Uint8Array() }], /unsupported constraint extension "toString"/],
    ['a malformed restrict-destination', [{ ...dest, contents: dest.contents.subarray(0, 10) }], /malformed restrict-destination/],
  ])('refuses %s, naming it', (_what, constraints, message) => {
    expect(() => checkConstraints(constraints)).toThrow(ConstraintError);
    expect(() => checkConstraints(constraints)).toThrow(message);
  });
});

describe('identity_permitted over hop chains', () => {
  // ssh-add -h A -h 'A>B': here to A, and through A on to B.
  const toAthenB = rules(constraint({}, { host: 'a', keys: [{ blob: A }] }), constraint({ host: 'a', keys: [{ blob: A }] }, { host: 'b', keys: [{ blob: B }] }));
  const onlyA = rules(constraint({}, { host: 'a', keys: [{ blob: A }] }));

  it('an unconstrained key is always permitted; an unbound connection is local use', () => {
    expect(identityPermitted([], state(binding(C, false)), 'root').ok).toBe(true);
    expect(identityPermitted(onlyA, state(), null).ok).toBe(true);
  });

  it('a connection whose session-bind failed is refused for constrained keys', () => {
    expect(identityPermitted(onlyA, { bindings: [], bindAttempted: true }, null)).toEqual({ ok: false, reason: 'previous session bind failed on socket' });
  });

  it('direct: allowed to the named host only', () => {
    expect(identityPermitted(onlyA, state(binding(A, false)), 'root')).toMatchObject({ ok: true, lastHostname: 'a' });
    expect(identityPermitted(onlyA, state(binding(B, false)), 'root').ok).toBe(false);
  });

  it('one hop: listed on the forwarding to A only when a rule goes on from A; signs for B through A', () => {
    expect(identityPermitted(onlyA, state(binding(A, true)), null)).toEqual({ ok: false, reason: 'key permitted at host but not after' });
    expect(identityPermitted(toAthenB, state(binding(A, true)), null).ok).toBe(true);
    expect(identityPermitted(toAthenB, state(binding(A, true), binding(B, false)), 'root')).toMatchObject({ ok: true, forwardHostname: 'a', lastHostname: 'b' });
    expect(identityPermitted(toAthenB, state(binding(A, true), binding(C, false)), 'root').ok).toBe(false);
    // Forwarded through C (not named) to B.
    expect(identityPermitted(toAthenB, state(binding(C, true), binding(B, false)), 'root').ok).toBe(false);
  });

  it('two hops need a rule for each', () => {
    const chain = state(binding(A, true), binding(B, true), binding(C, false));
    expect(identityPermitted(toAthenB, chain, 'root').ok).toBe(false);
    const longer = rules(
      constraint({}, { host: 'a', keys: [{ blob: A }] }),
      constraint({ host: 'a', keys: [{ blob: A }] }, { host: 'b', keys: [{ blob: B }] }),
      constraint({ host: 'b', keys: [{ blob: B }] }, { host: 'c', keys: [{ blob: C }] }),
    );
    expect(identityPermitted(longer, chain, 'root')).toMatchObject({ ok: true, forwardHostname: 'a', lastHostname: 'c' });
  });

  it('refuses signing on a forwarding hop and forwarding through an authentication bind', () => {
    expect(identityPermitted(toAthenB, state(binding(A, true)), 'root')).toEqual({ ok: false, reason: 'tried to sign on forwarding hop' });
    expect(identityPermitted(toAthenB, state(binding(A, false), binding(B, false)), 'root')).toEqual({
      ok: false,
      reason: 'tried to forward though signing bind',
    });
  });

  it('compares host keys as sshkey_equal does, from keys the rule holds since it was added', () => {
    // An RSA host key written twice: canonical mpints, and with a needless 00 before e.
    const { n, e } = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    const mpint = (b64url: string, pad: boolean): Buffer => {
      const bytes = Buffer.from(b64url, 'base64url');
      return str(Buffer.concat([pad || (bytes[0]! & 0x80) !== 0 ? Buffer.of(0) : Buffer.alloc(0), bytes]));
    };
    const rsa = (pad: boolean): Uint8Array => new Uint8Array(Buffer.concat([str('ssh-rsa'), mpint(e!, pad), mpint(n!, false)]));
    const canonical = rsa(false);
    const padded = rsa(true);
    expect(Buffer.from(padded).equals(Buffer.from(canonical))).toBe(false);
    const contents = restrict(constraint({}, { host: 'r', keys: [{ blob: padded }] }), constraint({}, { host: 'c', keys: [{ blob: C, ca: true }] }));
    const padRule = parseDestinationConstraints(contents);
    const canonRule = rules(constraint({}, { host: 'r', keys: [{ blob: canonical }] }));
    // The request's bytes are reused by the next request: the rule does not read them again.
    contents.fill(0);
    expect(identityPermitted(padRule, state(binding(canonical, false)), 'root')).toMatchObject({ ok: true, lastHostname: 'r' });
    expect(identityPermitted(padRule, state(binding(padded, false)), 'root')).toMatchObject({ ok: true, lastHostname: 'r' });
    expect(identityPermitted(canonRule, state(binding(padded, false)), 'root')).toMatchObject({ ok: true, lastHostname: 'r' });
    // A CA entry is no host key, and another key is another key.
    expect(identityPermitted(padRule, state(binding(C, false)), 'root').ok).toBe(false);
    expect(identityPermitted(canonRule, state(binding(A, false)), 'root').ok).toBe(false);
  });

  it('checks the user pattern at the last hop only', () => {
    const git = rules(constraint({}, { user: 'git*', host: 'a', keys: [{ blob: A }] }));
    expect(identityPermitted(git, state(binding(A, false)), 'gitlab').ok).toBe(true);
    expect(identityPermitted(git, state(binding(A, false)), 'root').ok).toBe(false);
    expect(identityPermitted(git, state(binding(A, false)), null).ok).toBe(true);
  });
});

describe('host certificates in destination constraints (match_key_hop, sshkey_cert_check_host)', () => {
  const SSH_KEYGEN = '/usr/bin/ssh-keygen';
  const hasKeygen = existsSync(SSH_KEYGEN);
  if (!hasKeygen && process.env['CI'] === 'true') throw new Error(`${SSH_KEYGEN} is required in CI`);

  it.skipIf(!hasKeygen)('a CA key matches host certificates it signed for the hop name, while valid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'destcert-'));
    try {
      execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
      execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other-ca')]);
      const cert = (principals: string, extra: string[] = [], ca = 'ca', user = false): Uint8Array => {
        const name = `h${Math.random().toString(36).slice(2)}`;
        writeFileSync(join(dir, `${name}.pub`), `${readFileSync(join(FIXTURES, 'ca.pub'), 'utf8')}`);
        execFileSync(SSH_KEYGEN, ['-q', '-s', join(dir, ca), '-I', 'host', ...(user ? [] : ['-h']), '-n', principals, ...extra, join(dir, `${name}.pub`)]);
        return parseAuthorizedKey(readFileSync(join(dir, `${name}-cert.pub`), 'utf8')).keyBlob;
      };
      const caBlob = parseAuthorizedKey(readFileSync(join(dir, 'ca.pub'), 'utf8')).keyBlob;
      const now = BigInt(Math.floor(Date.now() / 1000));
      const hopFor = (hostname: string, isCa = true) => rules(constraint({}, { host: hostname, keys: [{ blob: caBlob, ca: isCa }] }))[0]!.to;
      expect(matchKeyHop(cert('web.example.test'), hopFor('web.example.test'), now)).toBe(true);
      expect(matchKeyHop(cert('web.example.test,alias'), hopFor('alias'), now)).toBe(true);
      expect(matchKeyHop(cert('web.example.test'), hopFor('db.example.test'), now)).toBe(false);
      expect(matchKeyHop(cert('web.example.test'), hopFor('web.example.test', false), now)).toBe(false);
      expect(matchKeyHop(cert('web.example.test', [], 'other-ca'), hopFor('web.example.test'), now)).toBe(false);
      expect(matchKeyHop(cert('web.example.test', ['-V', '20200101:20200102']), hopFor('web.example.test'), now)).toBe(false);
      expect(matchKeyHop(cert('web.example.test', [], 'ca', true), hopFor('web.example.test'), now)).toBe(false);
      // The CA's own plain key is not a host key for the hop.
      expect(matchKeyHop(caBlob, hopFor('web.example.test'), now)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A publickey userauth request as ssh signs it (RFC 4252 §7; hostbound: PROTOCOL §2.5). */
function userauth(opts: { sessionId: Uint8Array; user?: string; key?: Uint8Array; alg?: string; method?: string; hostKey?: Uint8Array; service?: string; type?: number; sigFollows?: number; tail?: Uint8Array }): Uint8Array {
  const method = opts.method ?? (opts.hostKey === undefined ? 'publickey' : 'publickey-hostbound-v00@openssh.com');
  return new Uint8Array(
    Buffer.concat([
      str(opts.sessionId),
      Buffer.of(opts.type ?? 50),
      str(opts.user ?? 'root'),
      str(opts.service ?? 'ssh-connection'),
      str(method),
      Buffer.of(opts.sigFollows ?? 1),
      str(opts.alg ?? 'ssh-ed25519'),
      str(opts.key ?? CARD),
      ...(opts.hostKey === undefined ? [] : [str(opts.hostKey)]),
      Buffer.from(opts.tail ?? new Uint8Array()),
    ]),
  );
}

describe('parse_userauth_request', () => {
  const sid = new Uint8Array(randomBytes(32));

  it('reads user, session id and the hostbound host key', () => {
    expect(parseUserauthRequest(userauth({ sessionId: sid, user: 'git', hostKey: A }), CARD)).toEqual({ user: 'git', sessionId: sid, hostKey: A });
    expect(parseUserauthRequest(userauth({ sessionId: sid }), CARD)).toEqual({ user: 'root', sessionId: sid, hostKey: null });
  });

  it.each<[string, Parameters<typeof userauth>[0]]>([
    ['an empty session id', { sessionId: new Uint8Array() }],
    ['another message type', { sessionId: sid, type: 51 }],
    ['another service', { sessionId: sid, service: 'ssh-userauth' }],
    ['another method', { sessionId: sid, method: 'hostbased' }],
    ['no signature flag', { sessionId: sid, sigFollows: 0 }],
    ['another key', { sessionId: sid, key: A }],
    ['an algorithm of another key type', { sessionId: sid, alg: 'rsa-sha2-256' }],
    ['trailing bytes', { sessionId: sid, tail: Uint8Array.of(0) }],
  ])('refuses %s', (_what, opts) => {
    expect(parseUserauthRequest(userauth(opts), CARD)).toBeNull();
  });

  it('refuses every truncation and non-userauth data such as an SSHSIG blob', () => {
    const full = userauth({ sessionId: sid, hostKey: A });
    for (let n = 0; n < full.length; n++) expect(parseUserauthRequest(full.subarray(0, n), CARD)).toBeNull();
    expect(parseUserauthRequest(new Uint8Array(Buffer.concat([Buffer.from('SSHSIG'), str('file'), str(''), str('sha512'), str(randomBytes(64))])), CARD)).toBeNull();
  });
});

describe('checks on a constrained signature (process_sign_request2)', () => {
  const toAthenB = rules(constraint({}, { host: 'a', keys: [{ blob: A }] }), constraint({ host: 'a', keys: [{ blob: A }] }, { host: 'b', keys: [{ blob: B }] }));

  it('signs for the latest binding only, and wants the host key when forwarded', () => {
    const direct = binding(A, false);
    expect(checkSignRequest(toAthenB, state(direct), CARD, userauth({ sessionId: direct.sessionId }))).toMatchObject({ ok: true, user: 'root' });
    expect(checkSignRequest(toAthenB, state(direct), CARD, userauth({ sessionId: direct.sessionId, hostKey: A })).ok).toBe(true);
    expect(checkSignRequest(toAthenB, state(direct), CARD, userauth({ sessionId: direct.sessionId, hostKey: B }))).toMatchObject({ ok: false, reason: expect.stringContaining('mismatch between hostkey') });
    expect(checkSignRequest(toAthenB, state(direct), CARD, userauth({ sessionId: new Uint8Array(randomBytes(32)) }))).toMatchObject({ ok: false, reason: expect.stringContaining('unexpected session ID') });

    const fwd = binding(A, true);
    const last = binding(B, false);
    expect(checkSignRequest(toAthenB, state(fwd, last), CARD, userauth({ sessionId: last.sessionId, hostKey: B })).ok).toBe(true);
    expect(checkSignRequest(toAthenB, state(fwd, last), CARD, userauth({ sessionId: last.sessionId }))).toMatchObject({ ok: false, reason: expect.stringContaining('no hostkey recorded') });
    expect(checkSignRequest(toAthenB, state(fwd, last), CARD, userauth({ sessionId: fwd.sessionId, hostKey: B })).ok).toBe(false);
  });

  it('refuses unbound connections and data that is not a userauth request', () => {
    expect(checkSignRequest(toAthenB, state(), CARD, userauth({ sessionId: new Uint8Array(32) }))).toMatchObject({ ok: false, reason: expect.stringContaining('unbound connection') });
    const b = binding(A, false);
    expect(checkSignRequest(toAthenB, state(b), CARD, new Uint8Array(randomBytes(64)))).toMatchObject({ ok: false, reason: expect.stringContaining('unidentified signature') });
  });
});

/** OpenSSH match.c match_pattern as it reads (recursive), the oracle for ours. */
function referenceMatch(s: string, p: string): boolean {
  let si = 0;
  let pi = 0;
  for (;;) {
    if (pi === p.length) return si === s.length;
    if (p[pi] === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return true;
      if (p[pi] !== '?' && p[pi] !== '*') {
        for (; si < s.length; si++) if (s[si] === p[pi] && referenceMatch(s.slice(si + 1), p.slice(pi + 1))) return true;
        return false;
      }
      for (; si < s.length; si++) if (referenceMatch(s.slice(si), p.slice(pi))) return true;
      return false;
    }
    if (si === s.length) return false;
    if (p[pi] !== '?' && p[pi] !== s[si]) return false;
    si++;
    pi++;
  }
}

describe('match_pattern', () => {
  it('agrees with OpenSSH’s recursive matcher', () => {
    const alphabet = fc.constantFrom('a', 'b', '*', '?');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 10 }), fc.string({ unit: alphabet, maxLength: 8 }), (s, p) => {
        expect(matchPattern(s, p)).toBe(referenceMatch(s, p));
      }),
      { numRuns: 2000 },
    );
  });

  it('answers a pattern built to make a recursive matcher explode (2^128 paths there)', () => {
    expect(matchPattern('a'.repeat(256), `${'*a'.repeat(128)}b`)).toBe(false);
    expect(matchPattern('a'.repeat(256), `${'*a'.repeat(128)}`)).toBe(true);
  });
});
