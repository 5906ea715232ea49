/** `hull serve`: the Docker Engine API in the foreground, until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { ApiServer, DEFAULT_HOST, parseHost } from '../../api/server.js';
import { collect, out, withEngine } from '../context.js';
import { backgroundScheduler, setAfterReplyScheduler, settleAfterReply } from '../../util/after-reply.js';
import { prespawnMonitor } from '../../container/monitor.js';
import { prepareSpareNetns } from '../../network/spare-netns.js';

/**
 * How long a stopping server waits for its after-the-answer work (veth deletes, removed
 * containers' directories, monitors finishing their runtime delete; each bounded by itself).
 */
const SETTLE_MS = 15_000;

interface ServeFlags {
  host?: string[];
  printSocket?: boolean;
}

async function serve(flags: ServeFlags): Promise<void> {
  const hosts = (flags.host && flags.host.length > 0 ? flags.host : [process.env.HULL_HOST ?? DEFAULT_HOST]).map(parseHost);
  if (flags.printSocket) {
    // For scripts: `export DOCKER_HOST=$(hull serve --print-socket)`.
    const h = hosts[0]!;
    out(h.kind === 'unix' ? `unix://${h.path}` : `tcp://${h.host}:${h.port}`);
    return;
  }
  // In a warm worker (`hull serve` through the client) such work is otherwise held back until
  // the command has answered: a server must do it as it goes, or it would pile up for its lifetime.
  setAfterReplyScheduler(backgroundScheduler);
  await withEngine(async (engine) => {
    const server = new ApiServer(engine);
    await server.listen(hosts);
    // Each container start takes a monitor spawned ahead of it (no fork of this process then).
    prespawnMonitor({ keepOne: true });
    // And a network namespace (network/spare-netns.ts), also renewed after each use.
    void prepareSpareNetns({ keepOne: true });
    for (const h of hosts) {
      if (h.kind === 'tcp') {
        process.stderr.write(`WARNING: API is accessible on tcp://${h.host}:${h.port} without authentication: anyone who can reach it has root on this host\n`);
      }
    }
    for (const a of server.addresses) process.stderr.write(`API listen on ${a}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.stderr.write('Shutting down: waiting for requests in flight\n');
        // Then the work done after answers: when this process is gone, nothing of the server
        // still writes into the root (a user may stop the server and delete the root).
        void server
          .close()
          .then(() => settleAfterReply(SETTLE_MS))
          .then(() => resolve());
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  });
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve the Docker Engine API (docker, compose and SDKs use it through DOCKER_HOST)')
    .option('-H, --host <socket>', `Where to listen: unix:///path or tcp://127.0.0.1:PORT (repeatable; default ${DEFAULT_HOST}, or $HULL_HOST)`, collect)
    .option('--print-socket', 'Print the DOCKER_HOST value for the first listener and exit')
    .action((flags: ServeFlags) => serve(flags));
}
