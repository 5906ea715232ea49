/**
 * Docker's Dockerfile word processing (moby/buildkit frontend/dockerfile/shell/lex.go): quotes
 * are removed, `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
 * `${VAR:?msg}` and `${VAR?msg}` are expanded from the build environment. This is not a shell:
 * no command substitution, no globbing, only what Docker does for ENV, COPY, WORKDIR and the rest.
 */
import { HullError } from '../util/errors.js';

export type Env = ReadonlyMap<string, string>;

class Lexer {
  private pos = 0;
  constructor(
    private readonly s: string,
    private readonly env: Env,
    private readonly escape: string,
  ) {}

  private peek(): string {
    return this.s[this.pos] ?? '';
  }

  private next(): string {
    return this.s[this.pos++] ?? '';
  }

  private atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  /** Words split on unquoted whitespace (ProcessWords); `split` false keeps it one word. */
  words(split: boolean): string[] {
    const out: string[] = [];
    let word = '';
    let inWord = false;
    while (!this.atEnd()) {
      const ch = this.peek();
      if (split && /\s/.test(ch)) {
        this.pos++;
        if (inWord) out.push(word);
        word = '';
        inWord = false;
        continue;
      }
      inWord = true;
      if (ch === "'") word += this.single();
      else if (ch === '"') word += this.double();
      else if (ch === '$') word += this.dollar();
      else if (ch === this.escape) {
        this.pos++;
        if (this.atEnd()) word += ch;
        else word += this.next();
      } else word += this.next();
    }
    if (inWord) out.push(word);
    return out;
  }

  private single(): string {
    this.pos++;
    let w = '';
    while (!this.atEnd() && this.peek() !== "'") w += this.next();
    if (this.atEnd()) throw new HullError('INVALID_ARGUMENT', 'unexpected end of statement while looking for matching single-quote');
    this.pos++;
    return w;
  }

  private double(): string {
    this.pos++;
    let w = '';
    for (;;) {
      if (this.atEnd()) throw new HullError('INVALID_ARGUMENT', 'unexpected end of statement while looking for matching double-quote');
      const ch = this.peek();
      if (ch === '"') {
        this.pos++;
        return w;
      }
      if (ch === '$') w += this.dollar();
      else if (ch === this.escape) {
        this.pos++;
        const n = this.peek();
        // Inside double quotes only these are escapable, as in a POSIX shell.
        if (n === '"' || n === '$' || n === this.escape) w += this.next();
        else w += ch;
      } else w += this.next();
    }
  }

  private name(): string {
    let n = '';
    while (/[A-Za-z0-9_]/.test(this.peek()) && !this.atEnd()) n += this.next();
    return n;
  }

  private dollar(): string {
    this.pos++;
    const ch = this.peek();
    if (ch === '{') {
      this.pos++;
      const name = this.name();
      if (name === '') throw new HullError('INVALID_ARGUMENT', `missing ':' in substitution or bad variable name in ${this.s}`);
      let op = this.next();
      if (op === '}') return this.env.get(name) ?? '';
      let colon = false;
      if (op === ':') {
        colon = true;
        op = this.next();
      }
      if (op !== '-' && op !== '+' && op !== '?') {
        throw new HullError('INVALID_ARGUMENT', `unsupported modifier (${colon ? ':' : ''}${op}) in substitution: ${this.s}`);
      }
      const word = this.braceWord();
      const value = this.env.get(name);
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      if (op === '-') return set ? value! : word;
      if (op === '+') return set ? word : '';
      if (!set) throw new HullError('INVALID_ARGUMENT', `${name}: ${word || 'is not allowed to be unset'}`);
      return value!;
    }
    const name = this.name();
    if (name === '') return '$';
    return this.env.get(name) ?? '';
  }

  /** The word after a `${VAR:-` up to the closing brace, itself processed (nested expansions, quotes). */
  private braceWord(): string {
    let w = '';
    for (;;) {
      if (this.atEnd()) throw new HullError('INVALID_ARGUMENT', `missing '}' in substitution: ${this.s}`);
      const ch = this.peek();
      if (ch === '}') {
        this.pos++;
        return w;
      }
      if (ch === '$') w += this.dollar();
      else if (ch === "'") w += this.single();
      else if (ch === '"') w += this.double();
      else if (ch === this.escape) {
        this.pos++;
        w += this.next();
      } else w += this.next();
    }
  }
}

/** One word with quotes removed and variables expanded (Docker's ProcessWord). */
export function processWord(s: string, env: Env, escape = '\\'): string {
  return new Lexer(s, env, escape).words(false).join('');
}

/** Whitespace-split words, quotes removed, variables expanded (Docker's ProcessWords). */
export function processWords(s: string, env: Env, escape = '\\'): string[] {
  return new Lexer(s, env, escape).words(true);
}
