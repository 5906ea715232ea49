/**
 * Dockerfile parsing (moby/buildkit frontend/dockerfile/parser): parser directives (`# syntax`,
 * `# escape`), comments, line continuations, heredocs (`RUN <<EOF`, `COPY <<EOF`), flags
 * (`--from=…`) and the JSON (exec) or shell form of the arguments. Variables are NOT expanded
 * here: which ones apply depends on the build state, so evaluate.ts does it per instruction.
 */
import { HullError } from '../util/errors.js';

export interface Heredoc {
  name: string;
  content: string;
  /** `<<"EOF"` / `<<'EOF'`: the body is taken literally. */
  expand: boolean;
  /** `<<-EOF`: leading tabs are stripped. */
  chomp: boolean;
}

export interface Instruction {
  /** Lower-case keyword: `run`, `copy`, … */
  cmd: string;
  /** The instruction as written, continuations joined (what history and errors show). */
  original: string;
  /** 1-based line where it starts. */
  line: number;
  flags: Record<string, string[]>;
  /** JSON-form array, or shell-form words / the raw rest, depending on the instruction. */
  args: string[];
  /** True when the arguments were given in JSON (exec) form. */
  json: boolean;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: string;
  syntax?: string;
  instructions: Instruction[];
}

const KNOWN = new Set([
  'from', 'run', 'cmd', 'entrypoint', 'env', 'arg', 'label', 'expose', 'copy', 'add', 'workdir',
  'user', 'volume', 'stopsignal', 'healthcheck', 'shell', 'onbuild', 'maintainer',
]);
const HEREDOC_CMDS = new Set(['run', 'copy', 'add']);
const JSON_CMDS = new Set(['run', 'cmd', 'entrypoint', 'shell', 'copy', 'add', 'volume', 'healthcheck']);

export function syntaxError(line: number, msg: string): HullError {
  return new HullError('INVALID_ARGUMENT', `dockerfile parse error on line ${line}: ${msg}`);
}

/** Reads `# key=value` directives from the top of the file (only before anything else). */
function directives(lines: string[]): { escape: string; syntax?: string; consumed: number } {
  let escape = '\\';
  let syntax: string | undefined;
  const seen = new Set<string>();
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== 'escape' && key !== 'syntax' && key !== 'check') break;
    if (seen.has(key)) throw syntaxError(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw syntaxError(i + 1, `invalid escape token '${m[2]}' does not match ${'`'} or \\`);
      escape = m[2];
    } else if (key === 'syntax') syntax = m[2];
  }
  return { escape, ...(syntax !== undefined ? { syntax } : {}), consumed: i };
}

const HEREDOC_RE = /<<(-?)\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_./-]+))/g;

function heredocMarkers(text: string): { name: string; chomp: boolean; expand: boolean }[] {
  const out: { name: string; chomp: boolean; expand: boolean }[] = [];
  for (const m of text.matchAll(HEREDOC_RE)) {
    const quoted = m[2] ?? m[3];
    out.push({ name: (quoted ?? m[4])!, chomp: m[1] === '-', expand: quoted === undefined });
  }
  return out;
}

/** Leading `--name=value` (or `--name`) flags of the arguments. */
function splitFlags(rest: string, line: number): { flags: Record<string, string[]>; rest: string } {
  const flags: Record<string, string[]> = {};
  let r = rest;
  for (;;) {
    const m = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=((?:"[^"]*"|'[^']*'|\S)*))?(?:\s+|$)/.exec(r);
    if (!m) break;
    if (m[1] === '') throw syntaxError(line, 'flag without a name');
    (flags[m[1]!] ??= []).push(m[2] ?? 'true');
    r = r.slice(m[0].length);
  }
  return { flags, rest: r };
}

function parseJson(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(rest) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // not JSON: Docker then takes the shell form
  }
  return undefined;
}

/**
 * ENV/LABEL arguments: `KEY VALUE` (legacy, one pair) or `K=V K2="a b"`. Words keep their quotes
 * (the lexer removes them during expansion); returns alternating keys and raw values.
 */
export function nameValuePairs(rest: string, cmd: string, line: number, escape: string): string[] {
  const words = splitKeepingQuotes(rest, escape);
  if (words.length === 0) throw syntaxError(line, `${cmd.toUpperCase()} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    // Legacy form: the first word is the key, everything after the whitespace the value.
    const m = /^\s*\S+\s*(.*)$/s.exec(rest)!;
    if (cmd === 'label' || m[1] === '') throw syntaxError(line, `${cmd.toUpperCase()} must have two arguments`);
    return [words[0]!, m[1]!];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw syntaxError(line, `${cmd.toUpperCase()} names can not be blank`);
    out.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}

/** Split on unquoted whitespace, keeping quotes and escapes in the words. */
export function splitKeepingQuotes(s: string, escape: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === escape && quote !== "'" && i + 1 < s.length) {
      word += ch + s[++i]!;
      inWord = true;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = '';
      word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      word += ch;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += ch;
    inWord = true;
  }
  if (inWord) out.push(word);
  return out;
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const d = directives(lines);
  const escape = d.escape;
  const instructions: Instruction[] = [];
  let i = d.consumed;
  while (i < lines.length) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i++;
      continue;
    }
    const start = i + 1;
    // Join continuation lines; comment and empty lines inside a continuation are skipped.
    let logical = '';
    let cur = raw.replace(/^\s+/, '');
    for (;;) {
      const t = cur.replace(/\s+$/, '');
      if (t.endsWith(escape)) {
        logical += t.slice(0, -1);
        i++;
        while (i < lines.length && (lines[i]!.trim() === '' || lines[i]!.trim().startsWith('#'))) i++;
        if (i >= lines.length) break;
        cur = lines[i]!;
        continue;
      }
      logical += cur;
      i++;
      break;
    }
    const m = /^(\S+)\s*(.*)$/s.exec(logical.trim());
    if (!m) {
      i++;
      continue;
    }
    const cmd = m[1]!.toLowerCase();
    if (!KNOWN.has(cmd)) throw syntaxError(start, `unknown instruction: ${m[1]!.toUpperCase()}`);
    const { flags, rest } = splitFlags(m[2]!.trim(), start);

    const heredocs: Heredoc[] = [];
    if (HEREDOC_CMDS.has(cmd) && !rest.startsWith('[')) {
      for (const mk of heredocMarkers(rest)) {
        const body: string[] = [];
        for (;;) {
          if (i >= lines.length) throw syntaxError(start, `unterminated heredoc ${mk.name}`);
          const l = lines[i++]!;
          const cmp = mk.chomp ? l.replace(/^\t+/, '') : l;
          if (cmp === mk.name) break;
          body.push(cmp);
        }
        heredocs.push({ name: mk.name, content: body.length ? `${body.join('\n')}\n` : '', expand: mk.expand, chomp: mk.chomp });
      }
    }

    const original = `${m[1]!.toUpperCase()} ${m[2]!.trim()}`.trim();
    let args: string[];
    let json = false;
    const asJson = JSON_CMDS.has(cmd) ? parseJson(rest) : undefined;
    if (asJson) {
      args = asJson;
      json = true;
    } else if (cmd === 'env' || cmd === 'label') {
      args = nameValuePairs(rest, cmd, start, escape);
    } else if (cmd === 'run' || cmd === 'cmd' || cmd === 'entrypoint' || cmd === 'shell' || cmd === 'maintainer' || cmd === 'onbuild' || cmd === 'healthcheck' || cmd === 'workdir' || cmd === 'user' || cmd === 'stopsignal') {
      args = rest === '' ? [] : [rest];
    } else {
      args = splitKeepingQuotes(rest, escape);
    }
    checkArity(cmd, args, json, rest, start, heredocs.length > 0);
    instructions.push({ cmd, original, line: start, flags, args, json, heredocs });
  }
  return { escape, ...(d.syntax !== undefined ? { syntax: d.syntax } : {}), instructions };
}

function checkArity(cmd: string, args: string[], json: boolean, rest: string, line: number, heredoc: boolean): void {
  const name = cmd.toUpperCase();
  const need = (ok: boolean, msg: string): void => {
    if (!ok) throw syntaxError(line, msg);
  };
  switch (cmd) {
    case 'from':
      need(args.length === 1 || (args.length === 3 && args[1]!.toLowerCase() === 'as'), 'FROM requires either one or three arguments');
      break;
    case 'copy':
    case 'add':
      need(args.length >= 2 || (heredoc && args.length >= 2), `${name} requires at least two arguments, but only ${args.length} provided`);
      break;
    case 'run':
    case 'onbuild':
    case 'maintainer':
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'expose':
    case 'volume':
    case 'arg':
      need(args.length > 0 && rest !== '', `${name} requires at least one argument`);
      break;
    case 'shell':
      need(json, 'SHELL requires the arguments to be in JSON form');
      need(args.length > 0, 'SHELL requires at least one argument');
      break;
    case 'healthcheck':
      need(args.length > 0 || json, 'HEALTHCHECK requires an argument');
      break;
    default:
  }
}
