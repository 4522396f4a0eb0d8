import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { allCommands, commandTree } from '../../src/cli/docs/command-tree.js';
import { buildProgram } from '../../src/cli/program.js';
import { REPO_ROOT, cleanEnv, cleanupSystem, makeTempDir, requireBuild, runProgram } from './harness/agent-process.js';
import { describeWithTools } from './harness/sshd.js';

const DIST = join(REPO_ROOT, 'dist');
const BASH_FILE = join(DIST, 'completions', 'openpgp-card-agent.bash');
const ZSH_FILE = join(DIST, 'completions', '_openpgp-card-agent');
const FISH_FILE = join(DIST, 'completions', 'openpgp-card-agent.fish');
const MAN_FILE = join(DIST, 'man', 'man1', 'openpgp-card-agent.1');

afterAll(async () => {
  await cleanupSystem();
});

/** What bash's completion function offers for the words typed (the last one being completed). */
async function bashComplete(words: readonly string[]): Promise<string[]> {
  const script = `source '${BASH_FILE}'\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})\nCOMP_CWORD=${words.length - 1}\n_openpgp_card_agent\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await runProgram('/bin/bash', ['-c', script]);
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** What fish offers (complete -C), names only. */
async function fishComplete(line: string): Promise<string[]> {
  // fish makes its config and data directories under HOME: give it a temporary one.
  const home = await makeTempDir('oca-fish-');
  const r = await runProgram('/usr/bin/fish', ['--no-config', '-c', `source '${FISH_FILE}'; complete -C '${line}'`], {
    env: cleanEnv({ HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data') }),
  });
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t')[0]!);
}

describeWithTools('shell completions and the man page, as built', ['/bin/bash', '/usr/bin/zsh', '/usr/bin/fish', '/usr/bin/groff', '/usr/bin/man'], () => {
  it('bash completes commands, subcommands, options and option values', async () => {
    requireBuild();
    expect(await bashComplete(['openpgp-card-agent', ''])).toEqual(['status', 'doctor', 'gpg', 'service', 'help']);
    expect(await bashComplete(['openpgp-card-agent', 'ser'])).toEqual(['service']);
    expect(await bashComplete(['openpgp-card-agent', 'service', ''])).toEqual(['install', 'uninstall', 'status', 'help']);
    expect(await bashComplete(['openpgp-card-agent', 'service', 'install', '--no'])).toEqual(['--no-start', '--no-notify']);
    expect(await bashComplete(['openpgp-card-agent', '--simulate-algo', 'p'])).toEqual(['p256', 'p384', 'p521']);
    expect(await bashComplete(['openpgp-card-agent', 'status', '--j'])).toEqual(['--json']);
    expect(await bashComplete(['openpgp-card-agent', '--log-format', ''])).toEqual(['text', 'json']);
  });

  it('fish completes the same, and keeps "status" apart from "service status"', async () => {
    expect(await fishComplete('openpgp-card-agent ')).toEqual(expect.arrayContaining(['status', 'doctor', 'gpg', 'service', 'help']));
    expect((await fishComplete('openpgp-card-agent service ')).sort()).toEqual(['help', 'install', 'status', 'uninstall']);
    expect(await fishComplete('openpgp-card-agent service install --no-')).toEqual(expect.arrayContaining(['--no-start', '--no-notify']));
    expect(await fishComplete('openpgp-card-agent status --')).toContain('--json');
    expect(await fishComplete('openpgp-card-agent service status --')).not.toContain('--json');
    expect((await fishComplete('openpgp-card-agent --simulate-algo ')).sort()).toEqual(['ed25519', 'p256', 'p384', 'p521', 'rsa2048', 'rsa3072', 'rsa4096']);
  });

  it('zsh reads its completion file, which names every command and option', async () => {
    const r = await runProgram('/usr/bin/zsh', ['-n', ZSH_FILE]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const text = readFileSync(ZSH_FILE, 'utf8');
    expect(text.startsWith('#compdef openpgp-card-agent\n')).toBe(true);
    // Loaded by compinit from $fpath, it defines one function per command.
    const dir = join(DIST, 'completions');
    const probe = await runProgram('/usr/bin/zsh', [
      '-f',
      '-c',
      `fpath=('${dir}' $fpath); autoload -U compinit; compinit -u -D; autoload +X _openpgp-card-agent; print -r -- $_comps[openpgp-card-agent]; _openpgp-card-agent 2>/dev/null; whence -w _openpgp_card_agent_service_install _openpgp_card_agent_status`,
    ]);
    expect(probe.stdout.split('\n')).toEqual(['_openpgp-card-agent', '_openpgp_card_agent_service_install: function', '_openpgp_card_agent_status: function', '']);
    for (const c of allCommands(commandTree(buildProgram()))) {
      for (const o of c.options) expect(text).toContain(o.long ?? o.short ?? '');
    }
  });

  it('the man page renders without warnings and names every command and option', async () => {
    const warnings = await runProgram('/usr/bin/groff', ['-man', '-ww', '-z', MAN_FILE]);
    expect(warnings).toMatchObject({ code: 0, stderr: '' });
    const page = await runProgram('/usr/bin/man', ['-l', MAN_FILE], { env: cleanEnv({ MANWIDTH: '200', MANPAGER: 'cat', PAGER: 'cat' }) });
    expect(page.code).toBe(0);
    // Not a terminal: man prints plain text, no overstrikes.
    const text = page.stdout;
    expect(text).not.toContain('\b');
    for (const c of allCommands(commandTree(buildProgram()))) {
      expect(text).toContain(['openpgp-card-agent', ...c.path].join(' '));
      for (const o of c.options) expect(text).toContain(o.long ?? o.short ?? '');
    }
    expect(text).toContain('agent.log');
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { man: string[]; files: string[] };
    expect(pkg.man).toEqual(['./dist/man/man1/openpgp-card-agent.1']);
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'LICENSE']));
  });
});
