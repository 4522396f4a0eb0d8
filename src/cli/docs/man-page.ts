import type { CommandDoc, OptionDoc } from './command-tree.js';

/** Text for roff: backslashes escaped, a leading dot or quote defused, hyphens as \-. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function optionItem(o: OptionDoc): string {
  const names = [o.short, o.long].filter((n): n is string => n !== undefined).map((n) => `\\fB${roff(n)}\\fR`).join(', ');
  const arg = o.argName === undefined ? '' : ` \\fI${roff(o.argName)}\\fR`;
  const choices = o.choices === undefined ? '' : ` (one of: ${o.choices.join(', ')})`;
  return `.TP\n${names}${arg}\n${roff(o.description)}${roff(choices)}`;
}

export interface ManPageExtras {
  readonly version: string;
  /** The DESCRIPTION section (plain text, see plainSection). */
  readonly description?: string;
  /** More sections, in order: [title, body] (plain text, see plainSection). */
  readonly sections: ReadonlyArray<readonly [string, string]>;
}

/**
 * A section from plain text: a line at the margin followed by indented lines is a term and its
 * description (several terms in a row share one); other lines at the margin are paragraphs,
 * separated by blank lines.
 */
function plainSection(title: string, body: string): string {
  const lines = body.split('\n');
  const indented = lines.map((l) => /^\s/.test(l));
  const term: boolean[] = Array<boolean>(lines.length).fill(false);
  for (let i = lines.length - 2; i >= 0; i--) {
    term[i] = !indented[i]! && lines[i] !== '' && lines[i + 1] !== '' && (indented[i + 1]! || term[i + 1]!);
  }
  const out = [`.SH ${roff(title.toUpperCase())}`];
  let prev: 'term' | 'desc' | 'text' | 'blank' = 'blank';
  for (const [i, line] of lines.entries()) {
    if (line === '') {
      prev = 'blank';
      continue;
    }
    if (term[i]) {
      out.push(prev === 'term' ? '.TQ' : '.TP', `\\fB${roff(line)}\\fR`);
      prev = 'term';
    } else if (indented[i]) {
      out.push(roff(line.trim()));
      prev = 'desc';
    } else {
      if (prev !== 'text') out.push('.PP');
      out.push(roff(line));
      prev = 'text';
    }
  }
  return out.join('\n');
}

/** openpgp-card-agent(1), from the command definitions. */
export function manPage(root: CommandDoc, extras: ManPageExtras): string {
  const out: string[] = [];
  out.push(`.TH OPENPGP\\-CARD\\-AGENT 1 "" "openpgp\\-card\\-agent ${roff(extras.version)}" "User Commands"`);
  out.push('.SH NAME', `openpgp\\-card\\-agent \\- ${roff(root.description.replace(/\.$/, '').replace(/^An/, 'an'))}`);
  out.push('.SH SYNOPSIS', `.B ${roff(root.name)}`, '[\\fIoptions\\fR]');
  for (const c of root.commands) out.push('.br', `.B ${roff(root.name)} ${roff(c.name)}`, roff(c.usage));
  out.push(extras.description === undefined ? `.SH DESCRIPTION\n${roff(root.description)}` : plainSection('Description', extras.description));
  out.push('.SH OPTIONS', ...root.options.map(optionItem));
  out.push('.SH COMMANDS');
  const walk = (c: CommandDoc): void => {
    out.push(`.SS "${roff([root.name, ...c.path].join(' '))} ${roff(c.usage)}"`, roff(c.description));
    out.push(...c.options.filter((o) => o.long !== '--help').map(optionItem));
    for (const s of c.commands) walk(s);
  };
  for (const c of root.commands) walk(c);
  for (const [title, body] of extras.sections) out.push(plainSection(title, body));
  return `${out.join('\n')}\n`;
}
