/** `hull login` / `hull logout`: credentials in Docker's ~/.docker/config.json, so both tools share them. */
import type { Command } from 'commander';
import { normalizeServer } from '../../engine/engine.js';
import { HullError } from '../../util/errors.js';
import { out, withEngine } from '../context.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString().replace(/\r?\n$/, '');
}

/** Ask on the terminal, echoing nothing for secrets. */
async function prompt(question: string, secret: boolean): Promise<string> {
  if (!process.stdin.isTTY) throw new HullError('INVALID_ARGUMENT', 'Cannot perform an interactive login from a non TTY device');
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  if (secret) {
    const rlOut = rl as unknown as { _writeToOutput: (s: string) => void };
    rlOut._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stdout.write(question);
    };
  }
  try {
    return await rl.question(question);
  } finally {
    if (secret) process.stdout.write('\n');
    rl.close();
  }
}

export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('Log in to a registry')
    .argument('[server]', 'registry host (default Docker Hub)')
    .option('-u, --username <string>', 'Username')
    .option('-p, --password <string>', 'Password')
    .option('--password-stdin', 'Take the password from stdin')
    .action(async (server: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean }) => {
      if (opts.password && opts.passwordStdin) throw new HullError('INVALID_ARGUMENT', '--password and --password-stdin are mutually exclusive');
      if (opts.passwordStdin && !opts.username) throw new HullError('INVALID_ARGUMENT', 'Must provide --username with --password-stdin');
      if (opts.password) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      const username = opts.username ?? (await prompt('Username: ', false));
      const password = opts.password ?? (opts.passwordStdin ? await readStdin() : await prompt('Password: ', true));
      if (!username || !password) throw new HullError('INVALID_ARGUMENT', 'Error: Non-null Username and Password Required');
      await withEngine((e) => e.login(server, username, password));
      out('Login Succeeded');
    });

  program
    .command('logout')
    .description('Log out from a registry')
    .argument('[server]', 'registry host (default Docker Hub)')
    .action(async (server: string | undefined) => {
      const removed = await withEngine((e) => e.logout(server));
      const host = normalizeServer(server);
      if (!removed) out(`Not logged in to ${host}`);
      else out(`Removing login credentials for ${host}`);
    });
}
