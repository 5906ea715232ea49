/** Shared plumbing for command handlers: the engine for the chosen root, output helpers. */
import { Engine, resolveRoot } from '../engine/engine.js';

let rootFlag: string | undefined;

export function setRootFlag(root: string | undefined): void {
  rootFlag = root;
}

/** Open the engine, run `fn`, always close the database. */
export async function withEngine<T>(fn: (engine: Engine) => Promise<T> | T): Promise<T> {
  const engine = await Engine.open(resolveRoot(rootFlag));
  try {
    return await fn(engine);
  } finally {
    engine.close();
  }
}

/** Commander's collector for repeatable options (`--filter a --filter b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

/** Docker prints inspect results as a JSON array indented by four spaces. */
export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 4));
}
