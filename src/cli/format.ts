/**
 * Docker's `--format` for `hull images/ps/inspect/...`: the subset of Go's text/template that
 * people actually put in scripts, with Docker CLI's additions (the `table` and `json` formats,
 * `\t`/`\n` escapes, functions json/join/split/title/upper/lower/pad/truncate) and its tabwriter
 * alignment. Data are plain JSON-like values: object keys play the role of struct fields and map
 * keys, and a function-valued property is called, like a Go method.
 */
import { HullError } from '../util/errors.js';

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

type Arg =
  | { kind: 'field'; base: Arg | 'dot' | { variable: string }; chain: string[]; source: string }
  | { kind: 'func'; name: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'pipe'; pipe: Pipe };

interface Command {
  args: Arg[];
}

interface Pipe {
  decl: string[];
  commands: Command[];
  source: string;
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with'; pipe: Pipe; body: Node[]; otherwise: Node[] }
  | { kind: 'range'; pipe: Pipe; body: Node[]; otherwise: Node[] };

type Token =
  | { t: 'string'; value: string }
  | { t: 'number'; value: number }
  | { t: 'field'; chain: string[]; text: string }
  | { t: 'variable'; name: string; chain: string[]; text: string }
  | { t: 'ident'; name: string }
  | { t: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'comma' };

function parseError(line: number, message: string): HullError {
  return new HullError('INVALID_ARGUMENT', `template parsing error: template: :${line}: ${message}`);
}

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*/;
const FIELD_CHAIN_RE = /^(?:\.[A-Za-z_][A-Za-z0-9_]*)+/;
const NUMBER_RE = /^[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;

function unquote(body: string, line: number): string {
  return body.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_m, esc: string) => {
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (esc.length > 1) return String.fromCharCode(parseInt(esc.slice(1), 16));
    const s = simple[esc];
    if (s === undefined) throw parseError(line, 'unknown escape sequence');
    return s;
  });
}

function lexAction(src: string, line: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const rest = src.slice(i);
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      // A newline inside quotes is accepted (Go refuses it) because Docker turns the `\n` in
      // `{{join .Names "\n"}}` into a real newline before parsing, and users mean exactly that.
      const m = /^"((?:[^"\\]|\\.)*)"/s.exec(rest);
      if (!m) throw parseError(line, 'unterminated quoted string');
      tokens.push({ t: 'string', value: unquote(m[1] ?? '', line) });
      i += m[0].length;
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw parseError(line, 'unterminated raw quoted string');
      tokens.push({ t: 'string', value: src.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '|') {
      tokens.push({ t: 'pipe' });
      i++;
    } else if (c === '(') {
      tokens.push({ t: 'lparen' });
      i++;
    } else if (c === ')') {
      tokens.push({ t: 'rparen' });
      i++;
    } else if (c === ',') {
      tokens.push({ t: 'comma' });
      i++;
    } else if (rest.startsWith(':=')) {
      tokens.push({ t: 'declare' });
      i += 2;
    } else if (c === '.' && !/^\.\d/.test(rest)) {
      const m = FIELD_CHAIN_RE.exec(rest);
      const text = m ? m[0] : '.';
      tokens.push({ t: 'field', chain: m ? text.slice(1).split('.') : [], text });
      i += text.length;
    } else if (c === '$') {
      const name = /^\$[A-Za-z0-9_]*/.exec(rest)?.[0] ?? '$';
      const chainText = FIELD_CHAIN_RE.exec(src.slice(i + name.length))?.[0] ?? '';
      tokens.push({ t: 'variable', name, chain: chainText ? chainText.slice(1).split('.') : [], text: name + chainText });
      i += name.length + chainText.length;
    } else if (NUMBER_RE.test(rest) && /[\d.+-]/.test(c)) {
      const text = NUMBER_RE.exec(rest)?.[0] ?? '';
      tokens.push({ t: 'number', value: Number(text) });
      i += text.length;
    } else if (IDENT_RE.test(rest)) {
      const name = IDENT_RE.exec(rest)?.[0] ?? '';
      tokens.push({ t: 'ident', name });
      i += name.length;
    } else {
      throw parseError(line, `unexpected "${c}" in command`);
    }
  }
  return tokens;
}

type Funcs = Record<string, (...args: unknown[]) => unknown>;

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly line: number,
    private readonly source: string,
  ) {}

  parsePipe(inParens = false): Pipe {
    const decl: string[] = [];
    // `$x := …` or `$i, $e := …` (range)
    const save = this.pos;
    const declared: string[] = [];
    while (this.peek()?.t === 'variable') {
      const v = this.tokens[this.pos] as Extract<Token, { t: 'variable' }>;
      if (v.chain.length) break;
      declared.push(v.name);
      this.pos++;
      if (this.peek()?.t === 'comma') this.pos++;
      else break;
    }
    if (declared.length && this.peek()?.t === 'declare') {
      this.pos++;
      decl.push(...declared);
    } else {
      this.pos = save;
    }
    const commands: Command[] = [];
    for (;;) {
      const args: Arg[] = [];
      while (this.pos < this.tokens.length) {
        const tok = this.peek();
        if (!tok || tok.t === 'pipe' || tok.t === 'rparen') break;
        args.push(this.parseOperand());
      }
      if (args.length === 0) throw parseError(this.line, 'missing command');
      commands.push({ args });
      const tok = this.peek();
      if (tok?.t === 'pipe') {
        this.pos++;
        continue;
      }
      if (tok?.t === 'rparen' && !inParens) throw parseError(this.line, 'unexpected right paren');
      break;
    }
    return { decl, commands, source: this.source };
  }

  parseOperand(): Arg {
    const tok = this.tokens[this.pos++];
    if (!tok) throw parseError(this.line, 'missing operand');
    switch (tok.t) {
      case 'string':
      case 'number':
        return { kind: 'literal', value: tok.value };
      case 'field':
        return { kind: 'field', base: 'dot', chain: tok.chain, source: tok.text };
      case 'variable':
        return { kind: 'field', base: { variable: tok.name }, chain: tok.chain, source: tok.text };
      case 'ident':
        if (tok.name === 'true' || tok.name === 'false') return { kind: 'literal', value: tok.name === 'true' };
        if (tok.name === 'nil') return { kind: 'literal', value: null };
        if (!(tok.name in FUNCS)) throw parseError(this.line, `function "${tok.name}" not defined`);
        return { kind: 'func', name: tok.name };
      case 'lparen': {
        const pipe = this.parsePipe(true);
        if (this.tokens[this.pos++]?.t !== 'rparen') throw parseError(this.line, 'unclosed left paren');
        // `(.A).B` — a field chain applied to a parenthesised result
        const next = this.peek();
        if (next?.t === 'field' && next.chain.length) {
          this.pos++;
          return { kind: 'field', base: { kind: 'pipe', pipe }, chain: next.chain, source: `(${pipe.source})${next.text}` };
        }
        return { kind: 'pipe', pipe };
      }
      default:
        throw parseError(this.line, `unexpected ${tok.t} in operand`);
    }
  }

  done(): boolean {
    return this.pos >= this.tokens.length;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
}

interface RawAction {
  body: string;
  line: number;
}

/** Splits a template into text and action bodies, applying `{{- ` / ` -}}` whitespace trimming. */
function split(src: string): (string | RawAction)[] {
  const parts: (string | RawAction)[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      if (text) parts.push(text);
      break;
    }
    const line = src.slice(0, open).split('\n').length;
    let start = open + 2;
    if (/^-\s/.test(src.slice(start))) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) parts.push(text);
    // Find the closing braces outside quoted strings, so `{{printf "}}"}}` works.
    let j = start;
    let close = -1;
    while (j < src.length) {
      const c = src[j];
      if (c === '"' || c === '`') {
        const re = c === '"' ? /"(?:[^"\\]|\\.)*"/sy : /`[^`]*`/y;
        re.lastIndex = j;
        const m = re.exec(src);
        if (!m) throw parseError(line, 'unterminated quoted string');
        j += m[0].length;
      } else if (src.startsWith('}}', j)) {
        close = j;
        break;
      } else {
        j++;
      }
    }
    if (close < 0) throw parseError(line, 'unclosed action');
    let body = src.slice(start, close);
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -1);
    parts.push({ body, line });
    i = close + 2;
  }
  return parts;
}

function parseTemplate(src: string): Node[] {
  const parts = split(src);
  let idx = 0;
  let lastLine = 1;

  // Parses nodes until {{end}} or {{else}}; returns which one stopped it (or 'eof').
  const parseList = (): { nodes: Node[]; stop: 'end' | 'else' | 'eof'; elseRest?: Token[]; line: number } => {
    const nodes: Node[] = [];
    while (idx < parts.length) {
      const part = parts[idx++] as string | RawAction;
      if (typeof part === 'string') {
        nodes.push({ kind: 'text', text: part });
        continue;
      }
      lastLine = part.line;
      const body = part.body.trim();
      if (body.startsWith('/*')) {
        if (!body.endsWith('*/')) throw parseError(part.line, 'unclosed comment');
        continue;
      }
      const tokens = lexAction(part.body, part.line);
      const first = tokens[0];
      if (!first) throw parseError(part.line, 'missing value for command');
      const keyword = first.t === 'ident' ? first.name : '';
      if (keyword === 'end') {
        if (tokens.length > 1) throw parseError(part.line, 'unexpected tokens after end');
        return { nodes, stop: 'end', line: part.line };
      }
      if (keyword === 'else') return { nodes, stop: 'else', elseRest: tokens.slice(1), line: part.line };
      if (keyword === 'if' || keyword === 'with' || keyword === 'range') {
        nodes.push(parseControl(keyword, tokens.slice(1), part.line, part.body));
        continue;
      }
      if (['define', 'template', 'block', 'break', 'continue'].includes(keyword)) {
        throw parseError(part.line, `{{${keyword}}} is not supported`);
      }
      const p = new Parser(tokens, part.line, part.body.trim());
      const pipe = p.parsePipe();
      if (!p.done()) throw parseError(part.line, 'unexpected tokens in action');
      nodes.push({ kind: 'action', pipe });
    }
    return { nodes, stop: 'eof', line: lastLine };
  };

  const parseControl = (kind: 'if' | 'with' | 'range', tokens: Token[], line: number, source: string): Node => {
    if (tokens.length === 0) throw parseError(line, `missing value for ${kind}`);
    const p = new Parser(tokens, line, source.trim());
    const pipe = p.parsePipe();
    if (!p.done()) throw parseError(line, `unexpected tokens in ${kind}`);
    const body = parseList();
    if (body.stop === 'eof') throw parseError(body.line, 'unexpected EOF');
    let otherwise: Node[] = [];
    if (body.stop === 'else') {
      const rest = body.elseRest ?? [];
      const chained = rest[0]?.t === 'ident' ? rest[0].name : '';
      if (rest.length && (chained === 'if' || chained === 'with') && kind !== 'range') {
        // `{{else if …}}` is sugar for a nested if that shares our {{end}}.
        otherwise = [parseControl(chained, rest.slice(1), body.line, source)];
      } else {
        if (rest.length) throw parseError(body.line, 'unexpected tokens after else');
        const tail = parseList();
        if (tail.stop !== 'end') throw parseError(tail.line, tail.stop === 'eof' ? 'unexpected EOF' : 'expected end; found {{else}}');
        otherwise = tail.nodes;
      }
    }
    return { kind, pipe, body: body.nodes, otherwise };
  };

  const top = parseList();
  if (top.stop !== 'eof') throw parseError(top.line, `unexpected {{${top.stop}}}`);
  return top.nodes;
}

// ---------------------------------------------------------------------------------------------
// Values and functions

/** Go's "invalid value": a missing map key or a field of nil. Prints as `<no value>`. */
const NO_VALUE = Symbol('no value');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return 'map[string]interface {}';
}

/** fmt.Sprint's `%v`, which is how Go templates print values. */
export function goString(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(nested).join(' ')}]`;
  if (isObject(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${nested(v[k])}`)
      .join(' ')}]`;
  }
  return typeof v === 'symbol' ? v.toString() : '<func>';
}

// Inside containers Go prints nil as <nil> whether it came from a missing key or not.
function nested(v: unknown): string {
  return v === undefined || v === NO_VALUE ? '<nil>' : goString(v);
}

/** Go's template truth: false, 0, nil and empty strings, slices and maps are false. */
function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

function asString(fn: string, v: unknown): string {
  if (typeof v !== 'string') throw new Error(`wrong type for value; expected string; got ${typeName(v)} (in ${fn})`);
  return v;
}

function asInt(fn: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`wrong type for value; expected int; got ${typeName(v)} (in ${fn})`);
  return v;
}

/** Go's encoding/json without HTML escaping, as Docker's `json` function configures it. */
function toJson(v: unknown): string {
  return JSON.stringify(v === NO_VALUE ? null : v, (_k, val: unknown) => (val === undefined ? null : val)) ?? 'null';
}

function compare(fn: string, a: unknown, b: unknown): number {
  if ((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string')) {
    return a < b ? -1 : a === b ? 0 : 1;
  }
  throw new Error(`error calling ${fn}: incompatible types for comparison`);
}

/** Go's fmt verbs that templates use: %s %v %d %q %f %g %e %x %X %t %% with flags, width and precision. */
export function goSprintf(format: string, args: unknown[]): string {
  let n = 0;
  const out = format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 's':
      case 'v':
        s = goString(a);
        if (prec !== undefined && verb === 's') s = [...s].slice(0, Number(prec)).join('');
        break;
      case 'q':
        s = JSON.stringify(goString(a));
        break;
      case 'd':
        if (typeof a !== 'number') return `%!d(${typeName(a)}=${goString(a)})`;
        s = String(Math.trunc(a));
        if (flags.includes('+') && a >= 0) s = `+${s}`;
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'g':
        if (typeof a !== 'number') return `%!${verb}(${typeName(a)}=${goString(a)})`;
        s =
          verb === 'e'
            ? a.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2')
            : verb === 'g'
              ? String(prec === undefined ? a : Number(a.toPrecision(Number(prec))))
              : a.toFixed(prec === undefined ? 6 : Number(prec));
        if (flags.includes('+') && a >= 0) s = `+${s}`;
        break;
      case 'x':
      case 'X':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(goString(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 't':
        s = typeof a === 'boolean' ? String(a) : `%!t(${typeName(a)}=${goString(a)})`;
        break;
      default:
        return `%!${verb}(${typeName(a)}=${goString(a)})`;
    }
    const w = width === undefined ? 0 : Number(width);
    const len = [...s].length;
    if (len >= w) return s;
    if (flags.includes('-')) return s + ' '.repeat(w - len);
    if (flags.includes('0') && /^[dfFeg]$/.test(verb ?? '')) {
      const sign = /^[+-]/.test(s) ? s.slice(0, 1) : '';
      return sign + '0'.repeat(w - len) + s.slice(sign.length);
    }
    return ' '.repeat(w - len) + s;
  });
  return n < args.length ? `${out}%!(EXTRA ${args.slice(n).map((a) => `${typeName(a)}=${goString(a)}`).join(', ')})` : out;
}

/** fmt.Sprint: spaces only between operands when neither is a string. */
function goSprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += goString(a);
  });
  return out;
}

function index(container: unknown, ...keys: unknown[]): unknown {
  let v = container;
  for (const k of keys) {
    if (Array.isArray(v) || typeof v === 'string') {
      const i = asInt('index', k);
      if (i < 0 || i >= v.length) throw new Error(`error calling index: index out of range: ${i}`);
      v = typeof v === 'string' ? v.charCodeAt(i) : v[i];
    } else if (isObject(v)) {
      v = Object.prototype.hasOwnProperty.call(v, String(k)) ? v[String(k)] : NO_VALUE;
    } else if (v === null || v === undefined || v === NO_VALUE) {
      throw new Error('error calling index: index of untyped nil');
    } else {
      throw new Error(`error calling index: can't index item of type ${typeName(v)}`);
    }
  }
  return v;
}

const FUNCS: Funcs = {
  json: (v) => toJson(v),
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new Error(`wrong type for value; expected []string; got ${typeName(list)}`);
    return list.map(goString).join(asString('join', sep));
  },
  split: (s, sep) => asString('split', s).split(asString('split', sep)),
  title: (s) => asString('title', s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase()),
  lower: (s) => asString('lower', s).toLowerCase(),
  upper: (s) => asString('upper', s).toUpperCase(),
  pad: (s, prefix, suffix) => ' '.repeat(asInt('pad', prefix)) + asString('pad', s) + ' '.repeat(asInt('pad', suffix)),
  truncate: (s, n) => {
    const str = asString('truncate', s);
    const len = asInt('truncate', n);
    return str.length < len ? str : str.slice(0, len);
  },
  index,
  len: (v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    throw new Error(`error calling len: len of type ${typeName(v)}`);
  },
  print: (...a) => goSprint(a),
  println: (...a) => `${a.map(goString).join(' ')}\n`,
  printf: (f, ...a) => goSprintf(asString('printf', f), a),
  not: (v) => !truthy(v),
  and: (...a) => a.find((v) => !truthy(v)) ?? a[a.length - 1],
  or: (...a) => a.find((v) => truthy(v)) ?? a[a.length - 1],
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => compare('lt', a, b) < 0,
  le: (a, b) => compare('le', a, b) <= 0,
  gt: (a, b) => compare('gt', a, b) > 0,
  ge: (a, b) => compare('ge', a, b) >= 0,
};

// Docker renders a table's header by running the same template over a map of column titles,
// with these functions made pass-through so `{{upper .Name}}` still heads its column NAME.
// `index` is added here (Docker errors and cuts the header short) so label columns get a title.
const HEADER_PASSTHROUGH = ['json', 'split', 'join', 'title', 'lower', 'upper', 'truncate', 'index'];

// ---------------------------------------------------------------------------------------------
// Execution

interface Scope {
  root: unknown;
  vars: Map<string, unknown>;
  /** Column titles when rendering a table header, else undefined. */
  headers: Record<string, string> | undefined;
}

class ExecError extends Error {}

function fieldOf(receiver: unknown, name: string, source: string): unknown {
  if (receiver === undefined || receiver === null || receiver === NO_VALUE) return NO_VALUE;
  if (typeof receiver !== 'object' || Array.isArray(receiver)) {
    throw new ExecError(`executing "" at <${source}>: can't evaluate field ${name} in type ${typeName(receiver)}`);
  }
  const rec = receiver as Record<string, unknown>;
  if (!(name in rec)) return NO_VALUE;
  const v = rec[name];
  // A function-valued property is a Go method: called with no arguments, on its object.
  return typeof v === 'function' ? (v as () => unknown).call(receiver) : v;
}

function evalArg(arg: Arg, dot: unknown, scope: Scope): unknown {
  switch (arg.kind) {
    case 'literal':
      return arg.value;
    case 'pipe':
      return evalPipe(arg.pipe, dot, scope);
    case 'func':
      return callFunc(arg.name, [], scope, arg.name);
    case 'field': {
      let v: unknown;
      if (arg.base === 'dot') {
        if (scope.headers) {
          return arg.chain.length === 0
            ? ''
            : (scope.headers[arg.chain.join('.')] ?? scope.headers[arg.chain[0] ?? ''] ?? (arg.chain.at(-1) ?? '').toUpperCase());
        }
        v = dot;
      } else if ('variable' in arg.base) {
        const name = arg.base.variable;
        if (name === '$') v = scope.root;
        else if (scope.vars.has(name)) v = scope.vars.get(name);
        else throw new ExecError(`undefined variable: ${name}`);
      } else {
        v = evalArg(arg.base, dot, scope);
      }
      for (const name of arg.chain) v = fieldOf(v, name, arg.source);
      return v;
    }
  }
}

function callFunc(name: string, args: unknown[], scope: Scope, source: string): unknown {
  if (scope.headers && HEADER_PASSTHROUGH.includes(name)) return args[0];
  const fn = FUNCS[name];
  if (!fn) throw new ExecError(`function "${name}" not defined`);
  try {
    return fn(...args);
  } catch (e) {
    throw new ExecError(`executing "" at <${source}>: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function evalPipe(pipe: Pipe, dot: unknown, scope: Scope): unknown {
  let value: unknown = NO_VALUE;
  pipe.commands.forEach((cmd, i) => {
    const [head, ...rest] = cmd.args;
    if (!head) return;
    const piped = i > 0 ? [value] : [];
    if (head.kind === 'func') {
      value = callFunc(head.name, [...rest.map((a) => evalArg(a, dot, scope)), ...piped], scope, head.name);
    } else {
      if (rest.length || piped.length) throw new ExecError(`executing "" at <${pipe.source}>: can't give argument to non-function`);
      value = evalArg(head, dot, scope);
    }
  });
  for (const v of pipe.decl) scope.vars.set(v, value);
  return value;
}

function execNodes(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action': {
        const v = evalPipe(node.pipe, dot, scope);
        if (node.pipe.decl.length === 0) out.push(goString(v));
        break;
      }
      case 'if':
      case 'with': {
        const inner: Scope = { ...scope, vars: new Map(scope.vars) };
        const v = evalPipe(node.pipe, dot, inner);
        if (truthy(v)) execNodes(node.body, node.kind === 'with' ? v : dot, inner, out);
        else execNodes(node.otherwise, dot, inner, out);
        break;
      }
      case 'range': {
        const inner: Scope = { ...scope, vars: new Map(scope.vars) };
        const decl = node.pipe.decl;
        const v = evalPipe({ ...node.pipe, decl: [] }, dot, inner);
        let items: [unknown, unknown][];
        if (Array.isArray(v)) items = v.map((e, i) => [i, e]);
        else if (isObject(v)) items = Object.keys(v).sort().map((k) => [k, v[k]]);
        else if (v === NO_VALUE || v === null || v === undefined) items = [];
        else throw new ExecError(`range can't iterate over ${goString(v)}`);
        if (items.length === 0) execNodes(node.otherwise, dot, inner, out);
        for (const [k, e] of items) {
          if (decl.length === 1 && decl[0]) inner.vars.set(decl[0], e);
          if (decl.length === 2 && decl[0] && decl[1]) {
            inner.vars.set(decl[0], k);
            inner.vars.set(decl[1], e);
          }
          execNodes(node.body, e, inner, out);
        }
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Docker CLI formats

export interface CompiledFormat {
  /** One row: the template applied to `data`, without a trailing newline. */
  (data: unknown): string;
  /** Whether the format had Docker's `table` prefix (rows then go through {@link tabwrite}). */
  readonly isTable: boolean;
  /** The header row of a table format, from field name → column title (e.g. `ID` → `IMAGE ID`). */
  header(titles: Record<string, string>): string;
}

/**
 * Compiles a Docker `--format` string. As in Docker's CLI: `json` means `{{json .}}`, a `table`
 * prefix is removed (and recorded in `isTable`), surrounding spaces are trimmed, and the two-character
 * sequences `\t` and `\n` become a tab and a newline before parsing.
 */
export function compileFormat(fmt: string): CompiledFormat {
  const isTable = fmt.startsWith('table');
  let text = isTable ? fmt.slice('table'.length) : fmt.trim() === 'json' ? '{{json .}}' : fmt;
  text = text.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const nodes = parseTemplate(text);
  const run = (data: unknown, headers?: Record<string, string>): string => {
    const out: string[] = [];
    try {
      execNodes(nodes, data, { root: data, vars: new Map(), headers }, out);
    } catch (e) {
      // Docker ignores errors while rendering the header and prints what it had.
      if (headers) return out.join('');
      if (e instanceof ExecError) throw new HullError('INVALID_ARGUMENT', `template parsing error: template: ${e.message}`);
      throw e;
    }
    return out.join('');
  };
  const compiled = (data: unknown): string => run(data);
  return Object.assign(compiled, { isTable, header: (titles: Record<string, string>) => run(undefined, titles) });
}

/**
 * The whole output of a listing command: one line per row, or for a `table` format a header
 * line plus rows aligned by {@link tabwrite}. Like Docker, a table prints its header even with
 * no rows, and other formats print nothing.
 */
export function formatRows(fmt: string, rows: readonly unknown[], titles: Record<string, string> = {}): string {
  const f = compileFormat(fmt);
  const lines = rows.map((r) => `${f(r)}\n`).join('');
  return f.isTable ? tabwrite(`${f.header(titles)}\n${lines}`) : lines;
}

/**
 * Go's text/tabwriter as Docker configures it (minwidth 10, tabwidth 1, padding 3, pad with
 * spaces, no flags). Cells are tab-terminated, so the last cell of a line is never padded and
 * lines get no trailing spaces; a column's width is set per block of consecutive lines that have it.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const lines = text.split('\n').map((l) => l.split('\t').map((cell) => ({ cell, width: [...cell].length })));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = lines[i] ?? [];
      out.push(
        line
          .map(({ cell, width }, j) => {
            const w = widths[j];
            return w !== undefined && j < line.length - 1 ? cell + ' '.repeat(Math.max(0, w - width)) : cell;
          })
          .join(''),
      );
    }
  };

  // A transcription of tabwriter's recursive format(): find each block of lines that have a cell
  // in `column`, size the column from that block, and recurse to the columns to its right.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let t = line0; t < line1; t++) {
      if (column >= (lines[t]?.length ?? 0) - 1) continue;
      writeLines(start, t);
      start = t;
      let width = minWidth;
      for (; t < line1; t++) {
        const line = lines[t] ?? [];
        if (column >= line.length - 1) break;
        width = Math.max(width, (line[column]?.width ?? 0) + padding);
      }
      widths.push(width);
      format(start, t);
      widths.pop();
      // As in Go, the loop's increment skips the line that ended the block: it lacks this column.
      start = t;
    }
    writeLines(start, line1);
  };
  format(0, lines.length);
  return out.join('\n');
}

/** A simple aligned table: a header row of titles, then one row per record, Docker-style. */
export function renderTable(rows: Record<string, string>[], columns: { key: string; header: string }[]): string {
  const line = (cells: string[]): string => `${cells.join('\t')}\n`;
  const text = line(columns.map((c) => c.header)) + rows.map((r) => line(columns.map((c) => r[c.key] ?? ''))).join('');
  return tabwrite(text);
}
