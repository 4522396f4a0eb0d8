import type { Command } from 'commander';

/** One option as the man page and the completions show it. */
export interface OptionDoc {
  readonly short?: string;
  readonly long?: string;
  /** As commander spells it: "-H, --host <address>". */
  readonly flags: string;
  readonly description: string;
  /** The value's name ("address"), when the option takes one. */
  readonly argName?: string;
  readonly choices?: readonly string[];
  /** The value is a path: complete file names. */
  readonly file: boolean;
}

export interface CommandDoc {
  readonly name: string;
  /** Words from the program name down: ["service", "install"]. */
  readonly path: readonly string[];
  readonly usage: string;
  readonly description: string;
  readonly options: readonly OptionDoc[];
  readonly commands: readonly CommandDoc[];
}

/** The visible options and commands of a commander program, as plain data. */
export function commandTree(cmd: Command, path: readonly string[] = []): CommandDoc {
  const help = cmd.createHelp();
  const options = help.visibleOptions(cmd).map((o): OptionDoc => {
    const arg = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
    return {
      ...(o.short === undefined ? {} : { short: o.short }),
      ...(o.long === undefined ? {} : { long: o.long }),
      flags: o.flags,
      description: o.description,
      ...(arg === undefined ? {} : { argName: arg }),
      ...(o.argChoices === undefined ? {} : { choices: o.argChoices }),
      file: arg !== undefined && /file|path/.test(arg),
    };
  });
  const commands = help
    .visibleCommands(cmd)
    .filter((c) => c.name() !== 'help' || c.commands.length > 0 || c.description() !== '')
    .map((c) => (c.name() === 'help' ? helpDoc(c, [...path, 'help']) : commandTree(c, [...path, c.name()])));
  return { name: cmd.name(), path, usage: cmd.usage(), description: cmd.description(), options, commands };
}

/** commander's implicit help command has no options of its own. */
function helpDoc(c: Command, path: readonly string[]): CommandDoc {
  return { name: 'help', path, usage: '[command]', description: c.description(), options: [], commands: [] };
}

/** Every command in the tree, depth first, root first. */
export function allCommands(root: CommandDoc): CommandDoc[] {
  return [root, ...root.commands.flatMap(allCommands)];
}
