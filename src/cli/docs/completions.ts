import { allCommands, type CommandDoc, type OptionDoc } from './command-tree.js';

/*
 * Shell completions for bash, zsh and fish, generated from the command definitions, so a new
 * option or command is completed as soon as it is defined.
 */

function names(o: OptionDoc): string[] {
  return [o.short, o.long].filter((n): n is string => n !== undefined);
}

/** A single-quoted shell word. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The key a command is known by in the generated tables: "" for the program, "service install" ... */
function key(c: CommandDoc): string {
  return c.path.join(' ');
}

export function bashCompletion(root: CommandDoc, program = root.name): string {
  const cmds = allCommands(root);
  const fn = `_${program.replace(/[^A-Za-z0-9]/g, '_')}`;
  const caseArms = (f: (c: CommandDoc) => string): string => cmds.map((c) => `    ${sq(key(c))}) ${f(c)} ;;`).join('\n');
  const valueArms = cmds
    .flatMap((c) =>
      c.options
        .filter((o) => o.argName !== undefined)
        .map((o) => {
          const pattern = names(o).map((n) => sq(`${key(c)}|${n}`)).join('|');
          const action = o.choices !== undefined ? `COMPREPLY=($(compgen -W ${sq(o.choices.join(' '))} -- "$cur"))` : o.file ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()';
          return `      ${pattern}) ${action}; return ;;`;
        }),
    )
    .join('\n');
  return `# bash completion for ${program}; generated from its command definitions.
# Source it, or put it in ~/.local/share/bash-completion/completions/${program}.
${fn}() {
  local cur prev path i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  path=""
  # Walk the words typed so far down the command tree.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    local subs
    subs="$(${fn}_commands "$path")"
    if [[ " $subs " == *" $w "* ]]; then path="\${path:+$path }$w"; fi
  done
  if [[ "$prev" == -* ]]; then
    case "$path|$prev" in
${valueArms}
    esac
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_options "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_commands "$path")" -- "$cur"))
  fi
}
${fn}_commands() {
  case "$1" in
${caseArms((c) => `echo ${sq(c.commands.map((s) => s.name).join(' '))}`)}
  esac
}
${fn}_options() {
  case "$1" in
${caseArms((c) => `echo ${sq(c.options.flatMap(names).join(' '))}`)}
  esac
}
complete -F ${fn} ${program}
`;
}

/** A description inside a zsh _arguments spec: brackets and colons escaped. */
function zshDesc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:').replace(/'/g, `'\\''`);
}

function zshFunction(c: CommandDoc, program: string): string {
  const fname = (d: CommandDoc): string => `_${program}${d.path.map((p) => `_${p}`).join('')}`.replace(/[^A-Za-z0-9_]/g, '_');
  const specs = c.options.map((o) => {
    const n = names(o);
    const exclusive = n.length > 1 ? `'(${n.join(' ')})'{${n.join(',')}}` : `'${n[0]}`;
    const head = n.length > 1 ? `${exclusive}'` : exclusive;
    const action = o.argName === undefined ? '' : `:${zshDesc(o.argName)}:${o.choices !== undefined ? `(${o.choices.join(' ')})` : o.file ? '_files' : ' '}`;
    return `    ${head}[${zshDesc(o.description)}]${action}'`;
  });
  const lines = [`${fname(c)}() {`];
  if (c.commands.length === 0) {
    lines.push(`  _arguments -s \\`, specs.join(' \\\n') || "    '*: :'", '}');
    return lines.join('\n');
  }
  lines.push('  local curcontext="$curcontext" state line', '  local -a cmds', '  cmds=(');
  for (const s of c.commands) lines.push(`    ${sq(`${s.name}:${s.description.replace(/:/g, '\\:')}`)}`);
  lines.push('  )', '  _arguments -C -s \\', ...specs.map((s) => `${s} \\`), "    '1: :->cmd' \\", "    '*:: :->args'");
  lines.push('  case $state in', "    cmd) _describe -t commands 'command' cmds ;;", '    args)', '      case $line[1] in');
  for (const s of c.commands) lines.push(`        ${s.name}) ${fname(s)} ;;`);
  lines.push('      esac ;;', '  esac', '}');
  return lines.join('\n');
}

export function zshCompletion(root: CommandDoc, program = root.name): string {
  const fns = allCommands(root).map((c) => zshFunction(c, program));
  const main = `_${program}`.replace(/[^A-Za-z0-9_]/g, '_');
  return `#compdef ${program}
# zsh completion for ${program}; generated from its command definitions.
# Put it in a directory on $fpath as _${program}.

${fns.join('\n\n')}

${main} "$@"
`;
}

export function fishCompletion(root: CommandDoc, program = root.name): string {
  const out = [`# fish completion for ${program}; generated from its command definitions.`, `# Put it in ~/.config/fish/completions/${program}.fish.`, `complete -c ${program} -f`];
  const all = allCommands(root);
  const commandWords = [...new Set(all.flatMap((c) => c.commands.map((s) => s.name)))];
  /** fish condition: exactly the words of `c.path` have been typed as commands. */
  const at = (c: CommandDoc): string => {
    if (c.path.length === 0) return `not __fish_seen_subcommand_from ${commandWords.join(' ')}`;
    const parts = c.path.map((p) => `__fish_seen_subcommand_from ${p}`);
    const deeper = c.commands.map((s) => s.name);
    // "status" is a command of the program and of "service": the program's needs "service" unseen.
    const parentsOfSame = all.filter((o) => o !== c && o.name === c.name && o.path.length > c.path.length).flatMap((o) => o.path.slice(0, -1));
    return [...parts, ...(deeper.length > 0 ? [`not __fish_seen_subcommand_from ${deeper.join(' ')}`] : []), ...parentsOfSame.map((p) => `not __fish_seen_subcommand_from ${p}`)].join('; and ');
  };
  for (const c of all) {
    const cond = sq(at(c));
    for (const s of c.commands) out.push(`complete -c ${program} -n ${cond} -a ${s.name} -d ${sq(s.description)}`);
    for (const o of c.options) {
      const flags = [o.short === undefined ? '' : `-s ${o.short.slice(1)}`, o.long === undefined ? '' : `-l ${o.long.slice(2)}`].filter((f) => f !== '').join(' ');
      const value = o.argName === undefined ? '' : o.choices !== undefined ? ` -x -a ${sq(o.choices.join(' '))}` : o.file ? ' -r -F' : ' -x';
      out.push(`complete -c ${program} -n ${cond} ${flags}${value} -d ${sq(o.description)}`);
    }
  }
  return `${out.join('\n')}\n`;
}
