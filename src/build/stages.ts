/**
 * Multi-stage structure: ARGs before the first FROM (meta args), the stages, and which stages
 * the target needs (its FROM chain and COPY --from sources), so only those are built.
 */
import { HullError } from '../util/errors.js';
import type { Dockerfile, Instruction } from './dockerfile.js';
import { syntaxError } from './dockerfile.js';
import { processWord } from './shell-lex.js';

export interface Stage {
  index: number;
  /** `AS name`, lower-cased (Docker compares stage names case-insensitively). */
  name?: string;
  from: Instruction;
  /** The base as written after meta-arg expansion. */
  base: string;
  body: Instruction[];
}

export interface Plan {
  metaArgs: Instruction[];
  stages: Stage[];
  target: Stage;
  /** Stages to build, in file order. */
  needed: Stage[];
}

/** `NAME=value` or `NAME` → [name, value?] (ARG's syntax). */
export function argDecl(raw: string): [string, string | undefined] {
  const i = raw.indexOf('=');
  return i === -1 ? [raw, undefined] : [raw.slice(0, i), raw.slice(i + 1)];
}

export function planStages(df: Dockerfile, metaValues: ReadonlyMap<string, string>, target?: string): Plan {
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of df.instructions) {
    if (ins.cmd === 'from') {
      const base = processWord(ins.args[0]!, metaValues, df.escape);
      const name = ins.args[2]?.toLowerCase();
      if (name !== undefined) {
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) throw syntaxError(ins.line, `invalid name for build stage: "${ins.args[2]}", name can't start with a number or contain symbols`);
        if (stages.some((s) => s.name === name)) throw syntaxError(ins.line, `duplicate name ${ins.args[2]}`);
      }
      stages.push({ index: stages.length, ...(name !== undefined ? { name } : {}), from: ins, base, body: [] });
    } else if (stages.length === 0) {
      if (ins.cmd !== 'arg') throw syntaxError(ins.line, 'no build stage in current context');
      metaArgs.push(ins);
    } else {
      stages.at(-1)!.body.push(ins);
    }
  }
  if (stages.length === 0) throw new HullError('INVALID_ARGUMENT', 'the Dockerfile has no FROM instruction: no build stage in current context');
  let targetStage = stages.at(-1)!;
  if (target !== undefined) {
    const t = stages.find((s) => s.name === target.toLowerCase());
    if (!t) throw new HullError('INVALID_ARGUMENT', `failed to reach build target ${target} in Dockerfile`);
    targetStage = t;
  }
  const need = new Set<number>();
  const visit = (s: Stage): void => {
    if (need.has(s.index)) return;
    need.add(s.index);
    const dep = baseStage(stages, s);
    if (dep) visit(dep);
    for (const ins of s.body) {
      const from = ins.flags.from?.at(-1);
      if ((ins.cmd === 'copy' || ins.cmd === 'add') && from !== undefined) {
        const d = findStage(stages, processWord(from, metaValues, df.escape), s.index);
        if (d) visit(d);
      }
    }
  };
  visit(targetStage);
  return { metaArgs, stages, target: targetStage, needed: stages.filter((s) => need.has(s.index)) };
}

/** An earlier stage named `ref` (or numbered, for COPY --from=0); undefined for an image name. */
export function findStage(stages: Stage[], ref: string, before: number): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.find((s) => s.name === lower && s.index < before);
  if (byName) return byName;
  if (/^\d+$/.test(ref)) {
    const i = Number(ref);
    if (i >= before) throw new HullError('INVALID_ARGUMENT', `invalid from flag value ${ref}: refers to current or future build stage`);
    return stages[i];
  }
  return undefined;
}

/** The earlier stage a FROM names (by name only: `FROM 0` is an image called "0"). */
export function baseStage(stages: Stage[], s: Stage): Stage | undefined {
  return stages.find((x) => x.name === s.base.toLowerCase() && x.index < s.index);
}
