#!/usr/bin/env -S node --
// `--` because Node 20 reads `--env-file` anywhere in argv, even after the script: without it
// `hull run --env-file f` would have node load (or fail on) the file before hull starts.
/**
 * `hull`: Docker's verbs and flags over hull's engine. Handlers parse, call the engine and
 * render; errors print as `hull: <message>` with Docker's exit codes (125 for engine errors).
 */
import { Command, CommanderError } from 'commander';
import { HullError, messageOf } from '../util/errors.js';
import { dockerArity, usageExitCode } from './arity.js';
import { registerBuildCommands } from './commands/build.js';
import { registerContainerCommands } from './commands/containers.js';
import { registerContainerOpsCommands } from './commands/container-ops.js';
import { registerContainerFsCommands } from './commands/container-fs.js';
import { registerImageCommands } from './commands/images.js';
import { registerLoginCommands } from './commands/login.js';
import { registerVolumeCommands } from './commands/volumes.js';
import { registerNetworkCommands } from './commands/networks.js';
import { registerServeCommand } from './commands/serve.js';
import { registerCompareCommand } from './commands/compare.js';
import { setRootFlag } from './context.js';
import { isWarmWorker } from './server/worker-mode.js';
import { mark, span } from '../util/trace.js';

export const ENGINE_ERROR_EXIT = 125;

function buildProgram(): Command {
  const program = new Command('hull')
    .description('Containers and virtual machines from one OCI image')
    .version('0.1.0', '-v, --version', 'Print version information and quit')
    .option('--root <dir>', 'State root (default /var/lib/hull, or $HULL_ROOT)')
    .showSuggestionAfterError(true)
    .enablePositionalOptions();
  program.hook('preAction', (cmd) => {
    setRootFlag(cmd.opts<{ root?: string }>().root);
  });
  registerContainerCommands(program);
  registerContainerOpsCommands(program);
  registerContainerFsCommands(program);
  registerImageCommands(program);
  registerLoginCommands(program);
  registerVolumeCommands(program);
  registerNetworkCommands(program);
  registerServeCommand(program);
  registerBuildCommands(program);
  registerCompareCommand(program);
  return program;
}

function configureErrors(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (str, write) => write(`hull: ${str.replace(/^error: /, '')}`),
  });
  for (const sub of cmd.commands) configureErrors(sub);
}

/**
 * The command tree, ready to parse one command line (~10 ms of CPU: a warm worker builds it
 * while idle). It reads neither argv, env nor stdio until it parses.
 */
export function prepareProgram(): Command {
  const program = buildProgram();
  configureErrors(program);
  dockerArity(program);
  program.hook('preAction', () => mark('cli: arguments parsed'));
  return program;
}

export async function main(argv: string[], prepared?: Command): Promise<number> {
  const program = prepared ?? span('cli: build the command tree', () => prepareProgram());
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return usageExitCode(e, ENGINE_ERROR_EXIT);
    }
    if (e instanceof HullError) {
      process.stderr.write(`hull: ${e.message}\n`);
      return ENGINE_ERROR_EXIT;
    }
    process.stderr.write(`hull: internal error: ${messageOf(e)}\n`);
    if (process.env.HULL_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return ENGINE_ERROR_EXIT;
  }
}

/** One CLI invocation in this process: the entry point below, or a warm worker (cli/server/worker.ts). */
export async function runCli(argv: string[], prepared?: Command): Promise<void> {
  // A closed pipe (`hull images | head -1`) is a normal end, not a crash.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  mark('cli: command begins');
  process.exitCode = await main(argv, prepared);
  mark('cli: command done');
}

// A warm worker imports this module ahead of its request and calls runCli itself.
if (!isWarmWorker()) await runCli(process.argv);
