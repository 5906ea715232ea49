/**
 * The instructions that only change the image config (ENV, LABEL, CMD, ENTRYPOINT, EXPOSE,
 * VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER), as Docker applies them.
 * Pure functions of the instruction, the expansion environment and the config: unit-tested.
 */
import type { ContainerConfig, ImageConfig } from '../image/config.js';
import { HullError } from '../util/errors.js';
import type { Instruction } from './dockerfile.js';
import { syntaxError } from './dockerfile.js';
import { processWord, processWords, type Env } from './shell-lex.js';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** The config's Env as a map (what variable expansion sees, with ARGs below it). */
export function envMap(env: readonly string[] | undefined, args: ReadonlyMap<string, string>): Map<string, string> {
  const m = new Map(args);
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    m.set(i === -1 ? e : e.slice(0, i), i === -1 ? '' : e.slice(i + 1));
  }
  return m;
}

/** Replaces `key` in place (keeping Docker's order) or appends it. */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  const entry = `${key}=${value}`;
  const i = env.findIndex((e) => e.split('=')[0] === key);
  if (i === -1) return [...env, entry];
  const copy = [...env];
  copy[i] = entry;
  return copy;
}

/** The command of RUN/CMD/ENTRYPOINT: exec form as given, shell form through the SHELL. */
export function commandOf(ins: Instruction, shell: readonly string[]): string[] {
  if (ins.json) return [...ins.args];
  return [...shell, ins.args.join(' ')];
}

/** Go's time.ParseDuration subset Docker's HEALTHCHECK flags accept, in nanoseconds. */
export function parseDuration(s: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (s === '0') return 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new HullError('INVALID_ARGUMENT', `time: invalid duration "${s}" for --${flag}`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return Math.round(total);
}

function expose(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const [range = '', proto = 'tcp'] = w.split('/');
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m || !/^(tcp|udp|sctp)$/i.test(proto)) throw new HullError('INVALID_ARGUMENT', `invalid containerPort: ${w}`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (hi < lo || hi > 65535) throw new HullError('INVALID_ARGUMENT', `invalid port range: ${range}`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}

const SIGNAL_RE = /^(SIG)?[A-Z0-9+-]+$|^\d+$/;

/**
 * Applies a config-only instruction to `img` (mutated). Returns the history text Docker
 * (BuildKit) records for it.
 */
export function applyConfigStep(ins: Instruction, img: ImageConfig, env: Env, escape: string): string {
  const c: ContainerConfig = (img.config ??= {});
  const word = (s: string): string => processWord(s, env, escape);
  switch (ins.cmd) {
    case 'env': {
      let e = c.Env ?? [];
      const shown: string[] = [];
      // All pairs are expanded against the environment before the instruction (`ENV a=1 b=$a`
      // gives b the old a), as Docker documents.
      for (let i = 0; i < ins.args.length; i += 2) {
        const k = word(ins.args[i]!);
        const v = word(ins.args[i + 1]!);
        e = setEnv(e, k, v);
        shown.push(`${k}=${v}`);
      }
      c.Env = e;
      return `ENV ${shown.join(' ')}`;
    }
    case 'label': {
      const labels = { ...(c.Labels ?? {}) };
      const shown: string[] = [];
      for (let i = 0; i < ins.args.length; i += 2) {
        const k = word(ins.args[i]!);
        const v = word(ins.args[i + 1]!);
        if (k === '') throw syntaxError(ins.line, 'LABEL names can not be blank');
        labels[k] = v;
        shown.push(`${k}=${v}`);
      }
      c.Labels = labels;
      return `LABEL ${shown.join(' ')}`;
    }
    case 'maintainer':
      img.author = ins.args[0] ?? '';
      return `MAINTAINER ${img.author}`;
    case 'cmd': {
      c.Cmd = commandOf(ins, c.Shell ?? DEFAULT_SHELL);
      return `CMD ${JSON.stringify(c.Cmd)}`;
    }
    case 'entrypoint': {
      c.Entrypoint = commandOf(ins, c.Shell ?? DEFAULT_SHELL);
      return `ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`;
    }
    case 'expose': {
      const ports = expose(ins.args.flatMap((a) => processWords(a, env, escape)));
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      return `EXPOSE map[${ports.map((p) => `${p}:{}`).join(' ')}]`;
    }
    case 'volume': {
      const paths = ins.json ? ins.args.map(word) : ins.args.flatMap((a) => processWords(a, env, escape));
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const p of paths) {
        if (p.trim() === '') throw new HullError('INVALID_ARGUMENT', 'VOLUME specified can not be an empty string');
        c.Volumes[p] = {};
      }
      return `VOLUME ${JSON.stringify(paths)}`;
    }
    case 'user':
      c.User = word(ins.args[0]!);
      return `USER ${c.User}`;
    case 'stopsignal': {
      const sig = word(ins.args[0]!);
      if (!SIGNAL_RE.test(sig)) throw new HullError('INVALID_ARGUMENT', `Invalid signal: ${sig}`);
      c.StopSignal = sig;
      return `STOPSIGNAL ${sig}`;
    }
    case 'shell':
      c.Shell = [...ins.args];
      return `SHELL ${JSON.stringify(c.Shell)}`;
    case 'onbuild': {
      const trigger = ins.args[0] ?? '';
      const kw = /^\s*(\S+)/.exec(trigger)?.[1]?.toUpperCase();
      if (kw === 'ONBUILD') throw new HullError('INVALID_ARGUMENT', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (kw === 'FROM' || kw === 'MAINTAINER') throw new HullError('INVALID_ARGUMENT', `${kw} isn't allowed as an ONBUILD trigger`);
      c.OnBuild = [...(c.OnBuild ?? []), trigger];
      return `ONBUILD ${trigger}`;
    }
    case 'healthcheck':
      return healthcheck(ins, c);
    default:
      throw new HullError('INTERNAL', `${ins.cmd} is not a config instruction`);
  }
}

function healthcheck(ins: Instruction, c: ContainerConfig): string {
  const first = ins.json ? undefined : /^\s*(\S+)\s*(.*)$/s.exec(ins.args[0] ?? '');
  const kind = (first?.[1] ?? '').toUpperCase();
  if (!ins.json && kind === 'NONE') {
    if (first?.[2]) throw syntaxError(ins.line, 'HEALTHCHECK NONE takes no arguments');
    c.Healthcheck = { Test: ['NONE'] };
    return 'HEALTHCHECK NONE';
  }
  if (ins.json || kind !== 'CMD') throw syntaxError(ins.line, `Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const rest = first![2]!;
  let test: string[];
  try {
    const parsed = rest.startsWith('[') ? (JSON.parse(rest) as unknown) : undefined;
    test = Array.isArray(parsed) ? ['CMD', ...(parsed as string[])] : ['CMD-SHELL', rest];
  } catch {
    test = ['CMD-SHELL', rest];
  }
  if (rest === '') throw syntaxError(ins.line, 'Missing command after HEALTHCHECK CMD');
  const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: test };
  const flag = (name: string): string | undefined => ins.flags[name]?.at(-1);
  for (const [name, key] of [
    ['interval', 'Interval'],
    ['timeout', 'Timeout'],
    ['start-period', 'StartPeriod'],
  ] as const) {
    const v = flag(name);
    if (v === undefined) continue;
    const d = parseDuration(v, name);
    if (d !== 0 && d < 1e6) throw new HullError('INVALID_ARGUMENT', `Interval "${name}" cannot be less than 1ms`);
    hc[key] = d;
  }
  const retries = flag('retries');
  if (retries !== undefined) {
    const n = Number(retries);
    if (!Number.isInteger(n) || n < 0) throw new HullError('INVALID_ARGUMENT', `invalid value for --retries: ${retries}`);
    if (n === 0) throw new HullError('INVALID_ARGUMENT', '--retries must be at least 1');
    hc.Retries = n;
  }
  const unknown = Object.keys(ins.flags).filter((f) => !['interval', 'timeout', 'start-period', 'retries', 'start-interval'].includes(f));
  if (unknown.length) throw syntaxError(ins.line, `unknown flag: ${unknown[0]}`);
  c.Healthcheck = hc;
  return `HEALTHCHECK &{${JSON.stringify(test)}}`;
}
