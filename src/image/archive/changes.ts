/**
 * `--change` instructions of `docker import` / `docker commit`: Dockerfile lines applied to an
 * image config, following moby's BuildFromConfig (builder/dockerfile). Only the instructions
 * that change metadata are allowed; the rest of the Dockerfile language (RUN, COPY, FROM…) is
 * refused with moby's own message.
 */
import { posix } from 'node:path';
import { HullError } from '../../util/errors.js';
import type { ContainerConfig } from '../config.js';

/** moby's validCommitCommands. */
const VALID_COMMANDS = new Set(['cmd', 'entrypoint', 'healthcheck', 'env', 'expose', 'label', 'onbuild', 'stopsignal', 'user', 'volume', 'workdir']);

const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Linux signal names (without SIG) and numbers, as moby's signal.ParseSignal accepts them. */
const SIGNALS: Record<string, number> = {
  ABRT: 6, ALRM: 14, BUS: 7, CHLD: 17, CLD: 17, CONT: 18, FPE: 8, HUP: 1, ILL: 4, INT: 2, IO: 29, IOT: 6, KILL: 9,
  PIPE: 13, POLL: 29, PROF: 27, PWR: 30, QUIT: 3, SEGV: 11, STKFLT: 16, STOP: 19, SYS: 31, TERM: 15, TRAP: 5,
  TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, USR1: 10, USR2: 12, VTALRM: 26, WINCH: 28, XCPU: 24, XFSZ: 25,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

interface Instruction {
  /** As written (moby reports it in this case). */
  keyword: string;
  rest: string;
}

/**
 * Split the changes into instructions the way the Dockerfile parser does: the changes are one
 * Dockerfile joined by newlines, so `\` continues a line, and blank and `#` lines are skipped.
 */
function parseInstructions(changes: string[]): Instruction[] {
  const lines = changes.join('\n').split('\n');
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of lines) {
    const trimmed = raw.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Comment lines inside a continued instruction are dropped, as in the Dockerfile parser.
    if (pending !== '' && trimmed.startsWith('#')) continue;
    if (/\\\s*$/.test(raw)) {
      pending += raw.replace(/\\\s*$/, '');
      continue;
    }
    const full = (pending + raw).trim();
    pending = '';
    if (full !== '') out.push(splitInstruction(full));
  }
  if (pending.trim() !== '') out.push(splitInstruction(pending.trim()));
  return out;
}

function splitInstruction(text: string): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
  return { keyword: m[1]!, rest: m[2]!.trim() };
}

/** Docker's parseMaybeJSON: a JSON array of strings is exec form, anything else is shell form. */
function maybeJson(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(rest);
    if (Array.isArray(v) && v.every((s): s is string => typeof s === 'string')) return v;
  } catch {
    // Not JSON: shell form, as Docker treats it.
  }
  return undefined;
}

/**
 * The Dockerfile parser's parseWords: split on unquoted whitespace, keeping quotes and
 * escapes in the words (they are removed later, by word processing).
 */
function splitWords(rest: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let escaped = false;
  for (const ch of rest) {
    if (escaped) {
      word += ch;
      escaped = false;
      continue;
    }
    if (ch === '\\') {
      word += ch;
      escaped = true;
      continue;
    }
    if (quote) {
      if (ch === quote) quote = undefined;
      word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      word += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (word !== '') words.push(word);
      word = '';
      continue;
    }
    word += ch;
  }
  if (word !== '') words.push(word);
  return words;
}

function envLookup(env: string[], name: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i]!;
    if (e.startsWith(`${name}=`)) return e.slice(name.length + 1);
  }
  return undefined;
}

/**
 * The Dockerfile shell lexer's ProcessWord: remove quotes and escapes and expand `$VAR`,
 * `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` from the config's environment.
 */
export function processWord(word: string, env: string[]): string {
  let out = '';
  let i = 0;
  const expand = (): string => {
    // At a `$`: read the variable reference that follows.
    i++;
    if (word[i] === '{') {
      const end = word.indexOf('}', i);
      if (end === -1) throw invalid(`missing '}' in "${word}"`);
      const inner = word.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(inner);
      if (!m) throw invalid(`unsupported modifier in "\${${inner}}"`);
      const value = envLookup(env, m[1]!);
      if (m[2] === '-') return value === undefined || value === '' ? processWord(m[3]!, env) : value;
      if (m[2] === '+') return value === undefined || value === '' ? '' : processWord(m[3]!, env);
      return value ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i));
    if (!m) return '$';
    i += m[0].length;
    return envLookup(env, m[0]) ?? '';
  };
  while (i < word.length) {
    const ch = word[i]!;
    if (ch === '\\') {
      out += word[i + 1] ?? '';
      i += 2;
    } else if (ch === "'") {
      const end = word.indexOf("'", i + 1);
      if (end === -1) throw invalid(`unexpected end of statement while looking for matching single-quote in "${word}"`);
      out += word.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      i++;
      while (i < word.length && word[i] !== '"') {
        const c = word[i]!;
        if (c === '\\' && i + 1 < word.length && '"$\\`'.includes(word[i + 1]!)) {
          out += word[i + 1];
          i += 2;
        } else if (c === '$') {
          out += expand();
        } else {
          out += c;
          i++;
        }
      }
      if (i >= word.length) throw invalid(`unexpected end of statement while looking for matching double-quote in "${word}"`);
      i++;
    } else if (ch === '$') {
      out += expand();
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/**
 * ENV and LABEL arguments: `k=v k2="v 2"`, or the legacy `k value with spaces`. Values are
 * processed against the environment as it was before this instruction.
 */
function nameValues(keyword: string, rest: string, env: string[]): [string, string][] {
  const words = splitWords(rest);
  if (words.length === 0) throw invalid(`${keyword} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(rest);
    if (!m) throw invalid(`${keyword} must have two arguments`);
    return [[processWord(m[1]!, env), processWord(m[2]!.trim(), env)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalid(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return [processWord(w.slice(0, eq), env), processWord(w.slice(eq + 1), env)];
  });
}

function expandedWords(rest: string, env: string[]): string[] {
  return splitWords(rest).map((w) => processWord(w, env));
}

function exactlyOne(keyword: string, rest: string, env: string[]): string {
  const words = expandedWords(rest, env);
  if (words.length !== 1) throw invalid(`${keyword} requires exactly one argument`);
  return words[0]!;
}

function validateSignal(sig: string): void {
  if (/^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n >= 1 && n <= SIGRTMAX) return;
  } else {
    const name = sig.toUpperCase().replace(/^SIG/, '');
    if (name in SIGNALS) return;
    const rt = /^RTMIN(?:\+(\d+))?$|^RTMAX(?:-(\d+))?$/.exec(name);
    if (rt) {
      const n = rt[1] !== undefined ? SIGRTMIN + Number(rt[1]) : rt[2] !== undefined ? SIGRTMAX - Number(rt[2]) : name.startsWith('RTMIN') ? SIGRTMIN : SIGRTMAX;
      if (n >= SIGRTMIN && n <= SIGRTMAX) return;
    }
  }
  throw invalid(`Invalid signal: ${sig}`);
}

/** EXPOSE's port specs, ranges expanded, as Docker stores them (`80/tcp`). */
function exposedPorts(specs: string[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    // `ip:hostPort:containerPort` forms are for `-p`; EXPOSE keeps only the container port.
    const m = /^(?:.*:)?(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
    if (!m) throw invalid(`invalid containerPort: ${spec}`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalid(`invalid proto: ${proto}`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > 65535 || end > 65535 || end < start) throw invalid(`invalid containerPort: ${spec}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Go duration strings (`30s`, `1m30s`, `500ms`) in nanoseconds, as HEALTHCHECK stores them. */
function parseDuration(flag: string, s: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s === '0') return 0;
  if (pos !== s.length || s === '') throw invalid(`time: invalid duration "${s}" for --${flag}`);
  return Math.round(total);
}

function healthcheck(rest: string): NonNullable<ContainerConfig['Healthcheck']> {
  let body = rest;
  const flags: Record<string, string> = {};
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(body);
    if (!m) break;
    flags[m[1]!] = m[2]!;
    body = body.slice(m[0].length);
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(body);
  const type = m?.[1]?.toUpperCase();
  if (type === 'NONE') {
    if (m![2] !== '' || Object.keys(flags).length > 0) throw invalid('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (type !== 'CMD') throw invalid(`Unknown type "${m?.[1] ?? ''}" in HEALTHCHECK (try CMD)`);
  const cmd = m![2]!;
  const exec = maybeJson(cmd);
  const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', cmd] };
  for (const [name, value] of Object.entries(flags)) {
    switch (name) {
      case 'interval':
        hc.Interval = parseDuration(name, value);
        break;
      case 'timeout':
        hc.Timeout = parseDuration(name, value);
        break;
      case 'start-period':
        hc.StartPeriod = parseDuration(name, value);
        break;
      case 'start-interval':
        (hc as Record<string, unknown>).StartInterval = parseDuration(name, value);
        break;
      case 'retries': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw invalid(`--retries must be a non-negative integer, got "${value}"`);
        hc.Retries = n;
        break;
      }
      default:
        throw invalid(`Unknown flag: ${name}`);
    }
  }
  return hc;
}

/**
 * Apply `changes` to `config` (not modified) and return the result. Unknown or disallowed
 * instructions fail with moby's message: `FOO is not a valid change command`.
 */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const instructions = parseInstructions(changes);
  // moby validates every instruction before applying any.
  for (const ins of instructions) {
    if (!VALID_COMMANDS.has(ins.keyword.toLowerCase())) throw invalid(`${ins.keyword} is not a valid change command`);
  }
  const cfg: ContainerConfig = structuredClone(config);
  // A CMD given in these changes survives a later ENTRYPOINT; an inherited one does not.
  let cmdSet = false;
  const shell = (): string[] => cfg.Shell ?? DEFAULT_SHELL;
  for (const { keyword, rest } of instructions) {
    const env = cfg.Env ?? [];
    switch (keyword.toLowerCase()) {
      case 'cmd':
        cfg.Cmd = maybeJson(rest) ?? [...shell(), rest];
        cmdSet = true;
        break;
      case 'entrypoint': {
        cfg.Entrypoint = maybeJson(rest) ?? [...shell(), rest];
        if (!cmdSet) cfg.Cmd = null;
        break;
      }
      case 'env': {
        const next = [...env];
        for (const [k, v] of nameValues('ENV', rest, env)) {
          if (k === '') throw invalid('ENV names can not be blank');
          const i = next.findIndex((e) => e.startsWith(`${k}=`));
          if (i === -1) next.push(`${k}=${v}`);
          else next[i] = `${k}=${v}`;
        }
        cfg.Env = next;
        break;
      }
      case 'label': {
        const labels = { ...cfg.Labels };
        for (const [k, v] of nameValues('LABEL', rest, env)) {
          if (k === '') throw invalid('LABEL names can not be blank');
          labels[k] = v;
        }
        cfg.Labels = labels;
        break;
      }
      case 'expose': {
        const ports = expandedWords(rest, env);
        if (ports.length === 0) throw invalid('EXPOSE requires at least one argument');
        const exposed = { ...cfg.ExposedPorts };
        for (const p of exposedPorts(ports)) exposed[p] = {};
        cfg.ExposedPorts = exposed;
        break;
      }
      case 'user':
        cfg.User = exactlyOne('USER', rest, env);
        break;
      case 'workdir': {
        const dir = exactlyOne('WORKDIR', rest, env);
        cfg.WorkingDir = posix.isAbsolute(dir) ? dir : posix.join('/', cfg.WorkingDir ?? '', dir);
        break;
      }
      case 'volume': {
        const paths = maybeJson(rest) ?? expandedWords(rest, env);
        if (paths.length === 0) throw invalid('VOLUME requires at least one argument');
        const volumes = { ...cfg.Volumes };
        for (const p of paths) {
          if (p.trim() === '') throw invalid('VOLUME specified can not be an empty string');
          volumes[p] = {};
        }
        cfg.Volumes = volumes;
        break;
      }
      case 'stopsignal': {
        const sig = exactlyOne('STOPSIGNAL', rest, env);
        validateSignal(sig);
        cfg.StopSignal = sig;
        break;
      }
      case 'healthcheck':
        cfg.Healthcheck = healthcheck(rest);
        break;
      case 'onbuild': {
        const trigger = /^(\S+)/.exec(rest)?.[1]?.toUpperCase();
        if (trigger === undefined) throw invalid('ONBUILD requires at least one argument');
        if (trigger === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
        if (trigger === 'FROM' || trigger === 'MAINTAINER') throw invalid(`${trigger} isn't allowed as an ONBUILD trigger`);
        cfg.OnBuild = [...(cfg.OnBuild ?? []), rest];
        break;
      }
    }
  }
  return cfg;
}
