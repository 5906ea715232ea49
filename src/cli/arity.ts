/**
 * Docker's wording and exit codes for CLI usage errors. The docker CLI (cobra, cli/required.go
 * in 20.10) says `"docker build" requires exactly 1 argument.`, then where to find help, the
 * usage line and the command's summary, and exits 1 — for too few and too many arguments
 * alike, and for an unknown command. An unknown or malformed flag exits 125. Commander's own
 * messages and exit codes differ, so its argument checks are replaced per command here.
 */
import { CommanderError, type Command } from 'commander';

/** Commander's error codes that docker reports with exit status 1 (usage), not 125. */
const USAGE_ERRORS = new Set(['commander.missingArgument', 'commander.excessArguments', 'commander.unknownCommand', 'hull.arity']);

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

const plural = (n: number): string => (n === 1 ? 'argument' : 'arguments');

/** The number of arguments a command takes, when its action checks more than its declaration says. */
export interface Arity {
  min: number;
  max: number;
}

/**
 * What `cmd` accepts (its declared arguments, or `arity`), worded as cobra's NoArgs / ExactArgs /
 * MinimumNArgs / RequiresRangeArgs / RequiresMaxArgs.
 */
export function arityMessage(cmd: Command, arity?: Arity): string {
  const args = cmd.registeredArguments;
  const min = arity?.min ?? args.filter((a) => a.required).length;
  const max = arity?.max ?? args.length;
  const path = commandPath(cmd);
  let needs: string;
  if (max === 0) needs = 'accepts no arguments';
  else if (!arity && args.some((a) => a.variadic)) needs = `requires at least ${min} ${plural(min)}`;
  else if (min === max) needs = `requires exactly ${min} ${plural(min)}`;
  else if (min === 0) needs = `requires at most ${max} ${plural(max)}`;
  else needs = `requires at least ${min} and at most ${max} arguments`;
  return `"${path}" ${needs}.\nSee '${path} --help'.\n\nUsage:  ${path} ${cmd.usage()}\n\n${cmd.description()}`;
}

/** Prints Docker's message for a wrong number of arguments to `cmd` and ends the command with status 1. */
export function arityError(cmd: Command, arity?: Arity): never {
  const message = arityMessage(cmd, arity);
  process.stderr.write(`${message}\n`);
  throw new CommanderError(1, 'hull.arity', message);
}

/**
 * Makes `cmd` (and its subcommands) fail on a wrong number of arguments with Docker's message
 * and exit status 1. Commander calls these two hooks from its argument check, before any action.
 */
export function dockerArity(cmd: Command): void {
  const hooks = cmd as unknown as { missingArgument(name: string): void; _excessArguments(received: string[]): void; _allowExcessArguments: boolean };
  const fail = (): never => arityError(cmd);
  hooks.missingArgument = fail;
  hooks._excessArguments = () => {
    if (!hooks._allowExcessArguments) fail();
  };
  for (const sub of cmd.commands) dockerArity(sub);
}

/** The exit status of a commander error that is not help or version output: Docker's 1 or 125. */
export function usageExitCode(e: CommanderError, engineErrorExit: number): number {
  return USAGE_ERRORS.has(e.code) ? 1 : engineErrorExit;
}
