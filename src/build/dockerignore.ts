/**
 * `.dockerignore` (moby/patternmatcher): one pattern a line, `#` comments, paths cleaned and
 * relative to the context root, `*` and `?` within one path component, `**` across any number
 * of them, `!` re-includes. The last matching pattern wins, and a pattern that matches a
 * directory matches everything below it.
 */
import { posix } from 'node:path';

interface Pattern {
  text: string;
  re: RegExp;
  exclusion: boolean;
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let p = raw.trim();
      if (p === '' || p.startsWith('#')) continue;
      let exclusion = false;
      if (p.startsWith('!')) {
        exclusion = true;
        p = p.slice(1).trim();
      }
      p = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '' || p === '.') p = '.';
      this.patterns.push({ text: p, re: compile(p), exclusion });
    }
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether `rel` (a context-relative path, `/`-separated) is excluded. */
  ignores(rel: string): boolean {
    const path = posix.normalize(rel).replace(/^\/+/, '');
    const parents = parentsOf(path);
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue; // cannot change the outcome
      if (p.re.test(path) || parents.some((d) => p.re.test(d))) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * Whether a directory must still be walked although it is ignored: some `!` pattern may
   * re-include something below it (Docker walks it then).
   */
  hasExceptions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /**
   * Whether an ignored directory must still be entered because a `!` pattern names something
   * inside it (moby's walk: the exception's text starts with the directory's path).
   */
  mayReinclude(dir: string): boolean {
    const prefix = `${posix.normalize(dir).replace(/^\/+/, '')}/`;
    return this.patterns.some((p) => p.exclusion && `${p.text}/`.startsWith(prefix));
  }
}

function parentsOf(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** patternmatcher's regexp translation (Unix separators). */
export function compile(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` also matches no directory at all; any other `**` matches across separators.
        if (pattern[i + 1] === '/') {
          i++;
          re += '(.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += escapeRe(ch);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(ch: string): string {
  return ch.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
}
