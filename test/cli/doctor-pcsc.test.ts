import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { slotOf } from '../../src/card/pcsc/pcsc-survey.js';
import { SCARD } from '../../src/card/pcsc/pcsc-codes.js';
import type { CardSurvey, ReaderFinding } from '../../src/cli/doctor/card-survey.js';
import { cardsCheck } from '../../src/cli/doctor/cards-check.js';
import type { DoctorContext } from '../../src/cli/doctor/check.js';
import { exclusiveCheck } from '../../src/cli/doctor/exclusive-check.js';
import { pcscClients, scdaemonHome, type PcscClient } from '../../src/cli/doctor/pcsc-clients.js';
import { linuxFamily, makePcscdCheck, startPcscdFix, type PcscHost } from '../../src/cli/doctor/pcscd-check.js';
import { pinStoredCheck } from '../../src/cli/doctor/pin-stored-check.js';
import { pinTriesCheck, unblockFix } from '../../src/cli/doctor/pin-tries-check.js';
import { scdaemonCheck } from '../../src/cli/doctor/scdaemon-check.js';
import { socketFilesystemCheck } from '../../src/cli/doctor/socket-filesystem-check.js';
import type { FilesystemInfo } from '../../src/os/network-filesystem.js';
import type { PinStatus } from '../../src/pins/keychain-pins.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'oca-doctor-unit-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function context(over: Partial<DoctorContext> = {}): DoctorContext {
  return {
    env: {},
    platform: 'linux',
    uid: 1000,
    home: '/home/u',
    defaultAddress: { kind: 'unix', path: '/run/user/1000/openpgp-card-agent/agent.sock' },
    exec: async () => undefined,
    pcsc: async () => ({ kind: 'ok', readers: [] }),
    filesystemOf: () => ({ type: 'tmpfs', network: false, source: 'mountinfo' }),
    pinStatus: async () => ({ location: 'none' }),
    pcscClients: () => [],
    ...over,
  };
}

const withReaders = (...readers: ReaderFinding[]): Partial<DoctorContext> => ({ pcsc: async (): Promise<CardSurvey> => ({ kind: 'ok', readers }) });
const openpgp = (reader: string, ident: string, user: number, resetCode = 0, admin = 3): ReaderFinding => ({
  reader,
  card: { kind: 'openpgp', ident, version: '3.4', tries: { user, resetCode, admin } },
});

describe('pcscd: how to start it on this system', () => {
  it('tells the distribution family from /etc/os-release', () => {
    expect(linuxFamily('ID=debian\nVERSION_ID="12"\n')).toBe('debian');
    expect(linuxFamily('ID=linuxmint\nID_LIKE="ubuntu debian"\n')).toBe('debian');
    expect(linuxFamily('ID="rocky"\nID_LIKE="rhel centos fedora"\n')).toBe('fedora');
    expect(linuxFamily('ID=fedora\n')).toBe('fedora');
    expect(linuxFamily('ID=endeavouros\nID_LIKE=arch\n')).toBe('arch');
    expect(linuxFamily('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n')).toBe('suse');
    expect(linuxFamily('ID=alpine\n')).toBe('alpine');
    expect(linuxFamily('ID=nixos\n')).toBe('other');
    expect(linuxFamily('')).toBe('other');
  });

  const host = (over: Partial<PcscHost>): PcscHost => ({ platform: 'linux', family: 'debian', pcscdInstalled: true, systemd: true, ...over });

  it('installed under systemd: enable the socket unit', () => {
    expect(startPcscdFix(host({}))).toEqual(['start it (systemd starts pcscd when a program asks for it, and at every boot):', '    sudo systemctl enable --now pcscd.socket']);
  });

  it('not installed: the package manager of the family first', () => {
    expect(startPcscdFix(host({ pcscdInstalled: false }))[1]).toBe('    sudo apt install pcscd');
    expect(startPcscdFix(host({ pcscdInstalled: false, family: 'fedora' }))[1]).toBe('    sudo dnf install pcsc-lite');
    expect(startPcscdFix(host({ pcscdInstalled: false, family: 'arch' }))[1]).toBe('    sudo pacman -S pcsclite ccid');
    expect(startPcscdFix(host({ pcscdInstalled: false, family: 'alpine' }))).toEqual([
      'install pcscd:',
      '    sudo apk add pcsc-lite',
      'start it, and at every boot:',
      '    sudo rc-update add pcscd && sudo rc-service pcscd start',
    ]);
  });

  it('without systemd, on macOS and on Windows', () => {
    expect(startPcscdFix(host({ systemd: false }))).toContain('    sudo pcscd');
    expect(startPcscdFix(host({ platform: 'darwin' }))[0]).toMatch(/^PC\/SC is part of macOS/);
    expect(startPcscdFix(host({ platform: 'win32' }))).toContain('    Set-Service SCardSvr -StartupType Automatic; Start-Service SCardSvr');
  });

  const check = makePcscdCheck(() => host({}));

  it('not running on a socket PCSCLITE_CSOCK_NAME names: fails, says so, and how to start the system one', async () => {
    const f = await check.run(
      context({ env: { PCSCLITE_CSOCK_NAME: '/nonexistent/pcscd.comm' }, pcsc: async () => ({ kind: 'no-service', message: 'SCardEstablishContext: SCARD_E_NO_SERVICE' }) }),
    );
    expect(f.verdict).toBe('fail');
    expect(f.summary).toBe('pcscd is not running (/nonexistent/pcscd.comm), so no card can be reached');
    expect(f.detail).toEqual(['SCardEstablishContext: SCARD_E_NO_SERVICE', 'PCSCLITE_CSOCK_NAME=/nonexistent/pcscd.comm names the pcscd to use; there is no socket there']);
    expect(f.fix).toContain('    sudo systemctl enable --now pcscd.socket');
  });

  it('hung: "does not answer", with a restart', async () => {
    const f = await check.run(context({ pcsc: async () => ({ kind: 'no-answer', call: 'SCardEstablishContext', ms: 3000 }) }));
    expect(f).toMatchObject({ verdict: 'fail', summary: 'pcscd does not answer (/run/pcscd/pcscd.comm): it is hung or stopped, so no card can be reached' });
    expect(f.detail?.[0]).toBe('SCardEstablishContext did not come back within 3 s; doctor went on without it');
    expect(f.fix).toContain('    sudo systemctl restart pcscd.service');
  });

  it('no PC/SC library: the package to install', async () => {
    const f = await check.run(context({ pcsc: async () => ({ kind: 'no-library', message: 'the PC/SC library could not be loaded' }) }));
    expect(f.verdict).toBe('fail');
    expect(f.fix?.[1]).toBe('    sudo apt install libpcsclite1 pcscd');
  });

  it('answering: ok, with the number of readers', async () => {
    const f = await check.run(context(withReaders({ reader: 'R0', card: { kind: 'empty' } })));
    expect(f).toEqual({ verdict: 'ok', summary: 'pcscd answers (/run/pcscd/pcscd.comm): 1 reader' });
  });

  it('the other PC/SC checks are skipped when pcscd cannot be asked', async () => {
    const ctx = context({ pcsc: async () => ({ kind: 'no-answer', call: 'SCardEstablishContext', ms: 3000 }) });
    for (const c of [cardsCheck, exclusiveCheck, pinTriesCheck, pinStoredCheck]) {
      expect(await c.run(ctx)).toEqual({ verdict: 'skip', summary: 'pcscd does not answer (see pcscd)' });
    }
  });
});

describe('reader states', () => {
  it('maps SCardGetStatusChange flags', () => {
    expect(slotOf(SCARD.STATE_EMPTY)).toBe('empty');
    expect(slotOf(0x10000 | SCARD.STATE_PRESENT | SCARD.STATE_INUSE)).toBe('card');
    expect(slotOf(SCARD.STATE_PRESENT | SCARD.STATE_EXCLUSIVE | SCARD.STATE_INUSE)).toBe('exclusive');
    expect(slotOf(SCARD.STATE_PRESENT | SCARD.STATE_MUTE)).toBe('mute');
    expect(slotOf(SCARD.STATE_UNAVAILABLE)).toBe('unavailable');
  });
});

describe('readers and cards', () => {
  it('no reader: a warning that asks for the card', async () => {
    const f = await cardsCheck.run(context());
    expect(f.verdict).toBe('warn');
    expect(f.summary).toMatch(/^pcscd sees no reader/);
  });

  it('lists every reader; ok once one holds an OpenPGP card', async () => {
    const f = await cardsCheck.run(
      context(withReaders(openpgp('R0', '0006:12345678', 3), { reader: 'R1', card: { kind: 'other', why: 'it does not know the OpenPGP application' } }, { reader: 'R2', card: { kind: 'empty' } })),
    );
    expect(f).toEqual({
      verdict: 'ok',
      summary: '1 OpenPGP card: 0006:12345678 in R0',
      detail: ['R0: OpenPGP card 0006:12345678 (version 3.4), User PIN 3 tries left', 'R1: a card that is not an OpenPGP card: it does not know the OpenPGP application', 'R2: no card'],
    });
  });

  it('cards, but none an OpenPGP card that could be read', async () => {
    const f = await cardsCheck.run(context(withReaders({ reader: 'R0', card: { kind: 'exclusive' } })));
    expect(f.verdict).toBe('warn');
    expect(f.summary).toBe('no OpenPGP card could be read (1 card seen)');
    expect(f.fix).toEqual(['a card another program holds: see card in use']);
  });
});

describe('PIN tries', () => {
  it('ok with the tries left of each card', async () => {
    const f = await pinTriesCheck.run(context(withReaders(openpgp('R0', '0006:1', 3), openpgp('R1', '0006:2', 2))));
    expect(f.verdict).toBe('ok');
    expect(f.summary).toBe('User PIN: 3 tries left (0006:1), 2 tries left (0006:2)');
  });

  it('one try left: a warning', async () => {
    const f = await pinTriesCheck.run(context(withReaders(openpgp('R0', '0006:1', 1))));
    expect(f).toMatchObject({ verdict: 'warn', summary: 'one try left for the User PIN of 0006:1: the next wrong PIN blocks it' });
  });

  it('blocked: fails, says so plainly, and gives the ways to unblock', async () => {
    const f = await pinTriesCheck.run(context(withReaders(openpgp('R0', '0006:1', 0, 0, 3))));
    expect(f.verdict).toBe('fail');
    expect(f.summary).toBe('the User PIN of 0006:1 is blocked: that card signs nothing until it is unblocked');
    expect(f.fix).toEqual([
      '0006:1: unblock the User PIN with gpg (its scdaemon must reach the card: see scdaemon),',
      '  with the Admin PIN (3 tries left): gpg --card-edit, then: admin, then: passwd, then: 2 (unblock PIN)',
      '  then give the new PIN to the agent: ssh-add -s 0006:1',
    ]);
  });

  it('the Reset Code is offered when the card has one; a factory reset only when nothing is left', () => {
    expect(unblockFix('X', { user: 0, resetCode: 3, admin: 3 })[1]).toBe('  with the Reset Code (3 tries left): gpg --card-edit, then: unblock');
    expect(unblockFix('X', { user: 0, resetCode: 0, admin: 0 })).toEqual([
      'X: the Admin PIN is blocked too and no Reset Code is left; only a factory reset makes the card usable again, and it deletes the keys on it:',
      '  gpg --card-edit, then: admin, then: factory-reset',
    ]);
  });
});

describe('PIN stored', () => {
  const status = (s: PinStatus) => ({ pinStatus: async () => s });

  it('stored in the keychain: ok', async () => {
    const f = await pinStoredCheck.run(context({ ...withReaders(openpgp('R0', '0006:1', 3)), ...status({ location: 'keychain' }) }));
    expect(f).toEqual({ verdict: 'ok', summary: 'the agent finds the PIN of 0006:1', detail: ['0006:1: stored in the OS keychain'] });
  });

  it('none: a warning with the ssh-add -s line', async () => {
    const f = await pinStoredCheck.run(context({ ...withReaders(openpgp('R0', '0006:1', 3)), ...status({ location: 'none' }) }));
    expect(f.verdict).toBe('warn');
    expect(f.fix?.[0]).toBe('to store it: ssh-add -s 0006:1   (the card checks the PIN first; the agent keeps it in the keychain)');
  });

  it('the store cannot be asked: a warning naming its error', async () => {
    const f = await pinStoredCheck.run(context({ ...withReaders(openpgp('R0', '0006:1', 3)), ...status({ location: 'none', storeError: 'no D-Bus' }) }));
    expect(f).toMatchObject({ verdict: 'warn', summary: 'whether the PIN of 0006:1 is stored could not be told', detail: ['0006:1: the PIN store could not be asked: no D-Bus'] });
  });
});

describe('card held exclusively', () => {
  const held = withReaders({ reader: 'R0', card: { kind: 'exclusive' } });
  const client = (pid: number, argv: string[], env: NodeJS.ProcessEnv = {}): PcscClient => ({ pid, name: argv[0]!.split('/').pop()!, argv, env });

  it('nothing held: ok', async () => {
    expect(await exclusiveCheck.run(context(withReaders(openpgp('R0', '0006:1', 3))))).toEqual({ verdict: 'ok', summary: 'no card is held exclusively by another program' });
  });

  it('scdaemon without pcsc-shared on the same pcscd: named, with the lines for its scdaemon.conf', async () => {
    const home = await tempDir();
    await writeFile(join(home, 'scdaemon.conf'), 'disable-ccid\n');
    const shared = await tempDir();
    await writeFile(join(shared, 'scdaemon.conf'), 'pcsc-shared\ndisable-ccid\n');
    const f = await exclusiveCheck.run(
      context({ ...held, env: { GNUPGHOME: home }, pcscClients: () => [client(41, ['scdaemon', '--multi-server', '--homedir', shared]), client(42, ['scdaemon', '--multi-server', '--homedir', home])] }),
    );
    expect(f.verdict).toBe('fail');
    expect(f.summary).toBe("the card in R0 is held exclusively by GnuPG's scdaemon (pid 42), which runs without pcsc-shared: this agent cannot use it");
    expect(f.fix).toEqual([`add this line to ${join(home, 'scdaemon.conf')}:`, '    pcsc-shared', 'then stop the running scdaemon (gpg starts it again when needed):', '    gpgconf --kill scdaemon']);
  });

  it('a scdaemon of another GnuPG home: the kill command names that home', async () => {
    const home = await tempDir();
    const f = await exclusiveCheck.run(context({ ...held, pcscClients: () => [client(42, ['scdaemon', '--multi-server'], { GNUPGHOME: home })] }));
    expect(f.fix).toEqual([
      `add these lines to ${join(home, 'scdaemon.conf')}:`,
      '    pcsc-shared',
      '    disable-ccid',
      'then stop the running scdaemon (gpg starts it again when needed):',
      `    GNUPGHOME=${home} gpgconf --kill scdaemon`,
    ]);
  });

  it('another program: the programs on the same pcscd are listed', async () => {
    const f = await exclusiveCheck.run(context({ ...held, pcscClients: () => [client(7, ['/usr/bin/python3', 'holder.py'])] }));
    expect(f.verdict).toBe('fail');
    expect(f.summary).toBe('the card in R0 is held exclusively by another program: this agent cannot use it');
    expect(f.detail).toEqual(['pcscd does not say which program; these use the same pcscd now:', '  python3 (pid 7): /usr/bin/python3 holder.py']);
  });

  it('no program found: says so, and names the usual cause', async () => {
    const f = await exclusiveCheck.run(context(held));
    expect(f.detail).toEqual(['pcscd does not say which program, and none could be found here']);
    expect(f.fix?.at(-1)).toMatch(/usually that is GnuPG's scdaemon without pcsc-shared/);
  });

  it('the scdaemon check names a scdaemon of another GnuPG home too', async () => {
    const mine = await tempDir();
    await writeFile(join(mine, 'scdaemon.conf'), 'pcsc-shared\ndisable-ccid\n');
    const other = await tempDir();
    const f = await scdaemonCheck.run(context({ env: { GNUPGHOME: mine }, pcscClients: () => [client(9, ['scdaemon', '--multi-server', '--homedir', other])] }));
    expect(f.verdict).toBe('fail');
    expect(f.summary).toBe(`a scdaemon (pid 9) of the GnuPG home ${other} is running without pcsc-shared and disable-ccid: it takes cards exclusively, so this agent cannot use them`);
  });
});

describe('PC/SC clients from /proc', () => {
  async function proc(pid: number, files: { cmdline: string[]; maps: string; environ?: Record<string, string> }, root: string): Promise<void> {
    const d = join(root, String(pid));
    await mkdir(d);
    await writeFile(join(d, 'cmdline'), `${files.cmdline.join('\0')}\0`);
    await writeFile(join(d, 'comm'), `${files.cmdline[0]!.split('/').pop()}\n`);
    await writeFile(join(d, 'maps'), files.maps);
    if (files.environ !== undefined) await writeFile(join(d, 'environ'), `${Object.entries(files.environ).map(([k, v]) => `${k}=${v}`).join('\0')}\0`);
  }
  const pcscLib = '7f00-7f10 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libpcsclite.so.1.0.0\n';

  it('keeps processes with libpcsclite loaded that use the same pcscd; drops others and this agent', async () => {
    const root = await tempDir();
    await proc(10, { cmdline: ['scdaemon', '--multi-server', '--homedir', '/h'], maps: pcscLib, environ: { PCSCLITE_CSOCK_NAME: '/s/pcscd.comm' } }, root);
    await proc(11, { cmdline: ['python3', 'x.py'], maps: pcscLib, environ: { PCSCLITE_CSOCK_NAME: '/other/pcscd.comm' } }, root);
    await proc(12, { cmdline: ['bash'], maps: '7f00-7f10 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n', environ: { PCSCLITE_CSOCK_NAME: '/s/pcscd.comm' } }, root);
    await proc(13, { cmdline: ['openpgp-card-agent'], maps: pcscLib, environ: { PCSCLITE_CSOCK_NAME: '/s/pcscd.comm' } }, root);
    await proc(14, { cmdline: ['/usr/bin/opensc-tool'], maps: pcscLib }, root); // environ not readable: kept
    const found = pcscClients('/s/pcscd.comm', root);
    expect(found.map((c) => [c.pid, c.name])).toEqual([
      [10, 'scdaemon'],
      [14, 'opensc-tool'],
    ]);
    expect(scdaemonHome(found[0]!)).toBe('/h');
  });

  it("scdaemon's home: --homedir, else GNUPGHOME, else HOME/.gnupg", () => {
    const c = (argv: string[], env?: NodeJS.ProcessEnv): PcscClient => ({ pid: 1, name: 'scdaemon', argv, env });
    expect(scdaemonHome(c(['scdaemon', '--homedir=/a']))).toBe('/a');
    expect(scdaemonHome(c(['scdaemon'], { GNUPGHOME: '/b', HOME: '/home/x' }))).toBe('/b');
    expect(scdaemonHome(c(['scdaemon'], { HOME: '/home/x' }))).toBe('/home/x/.gnupg');
    expect(scdaemonHome(c(['scdaemon'], undefined))).toBeUndefined();
  });
});

describe('socket directory on a network filesystem', () => {
  const fsMap =
    (types: Record<string, string>) =>
    (path: string): FilesystemInfo | undefined => {
      const type = types[path];
      return type === undefined ? undefined : { type, network: type.startsWith('nfs') || type.startsWith('fuse'), source: 'mountinfo' };
    };

  it("SSH_AUTH_SOCK's directory on NFS: a warning that explains the collision and the way out", async () => {
    const f = await socketFilesystemCheck.run(
      context({ env: { SSH_AUTH_SOCK: '/home/u/.ssh/agent.sock' }, filesystemOf: fsMap({ '/home/u/.ssh': 'nfs4', '/run/user/1000/openpgp-card-agent': 'tmpfs' }) }),
    );
    expect(f.verdict).toBe('warn');
    expect(f.summary).toBe("SSH_AUTH_SOCK's directory /home/u/.ssh is on nfs4, a network or FUSE filesystem");
    expect(f.fix?.join(' ')).toMatch(/collides between them/);
    expect(f.fix?.join(' ')).toMatch(/XDG_RUNTIME_DIR/);
    expect(f.fix?.join(' ')).toMatch(/-a /);
  });

  it('XDG_RUNTIME_DIR on sshfs: the default socket is elsewhere, and the detail says where', async () => {
    const f = await socketFilesystemCheck.run(
      context({
        env: { XDG_RUNTIME_DIR: '/mnt/run' },
        defaultAddress: { kind: 'unix', path: '/tmp/openpgp-card-agent-1000/agent.sock' },
        filesystemOf: fsMap({ '/mnt/run': 'fuse.sshfs', '/tmp/openpgp-card-agent-1000': 'ext4' }),
      }),
    );
    expect(f.verdict).toBe('warn');
    expect(f.summary).toBe('XDG_RUNTIME_DIR /mnt/run is on fuse.sshfs, a network or FUSE filesystem');
    expect(f.detail).toContain('so the agent does not put its default socket there, but in /tmp/openpgp-card-agent-1000');
  });

  it('local: ok; unknown (not Linux): skip', async () => {
    expect((await socketFilesystemCheck.run(context())).verdict).toBe('ok');
    expect((await socketFilesystemCheck.run(context({ filesystemOf: () => undefined }))).verdict).toBe('skip');
  });
});
