/** Network verbs: network create/ls/inspect/rm/prune/connect/disconnect, and `port`. */
import type { Command } from 'commander';
import { networkFilter } from '../../engine/network-filters.js';
import { networkInspect } from '../../engine/network-views.js';
import type { NetworkRow } from '../../state/networks.js';
import { HullError } from '../../util/errors.js';
import { collect, confirm, daemonError, eachName, out, withEngine } from '../context.js';
import { keyValueFlags, labelList } from '../key-values.js';
import { inspectNames, printRows } from '../output.js';

async function create(name: string, f: { driver?: string; subnet?: string[]; gateway?: string[]; ipRange?: string[]; internal?: boolean; label?: string[]; opt?: string[] }): Promise<void> {
  if ((f.subnet?.length ?? 0) > 1 || (f.gateway?.length ?? 0) > 1 || (f.ipRange?.length ?? 0) > 1) {
    throw new HullError('INVALID_ARGUMENT', 'hull networks have one IPv4 subnet: give --subnet, --gateway and --ip-range at most once');
  }
  const n = await withEngine((e) =>
    e.networks.create({
      name,
      ...(f.driver ? { driver: f.driver } : {}),
      ...(f.subnet?.[0] ? { subnet: f.subnet[0] } : {}),
      ...(f.gateway?.[0] ? { gateway: f.gateway[0] } : {}),
      ...(f.ipRange?.[0] ? { ipRange: f.ipRange[0] } : {}),
      internal: f.internal ?? false,
      labels: keyValueFlags(f.label, '--label'),
      options: keyValueFlags(f.opt, '--opt'),
    }),
  );
  out(n.id);
}

async function list(f: { quiet?: boolean; filter?: string[]; format?: string; trunc?: boolean }): Promise<void> {
  const test = networkFilter(f.filter ?? []);
  const nets = (await withEngine((e) => e.networks.list())).filter(test).sort((a, b) => a.name.localeCompare(b.name));
  const id = (n: NetworkRow): string => (f.trunc === false ? n.id : n.id.slice(0, 12));
  if (f.quiet) {
    nets.forEach((n) => out(id(n)));
    return;
  }
  const rows = nets.map((n) => ({
    ID: id(n),
    Name: n.name,
    Driver: n.driver,
    Scope: 'local',
    IPv6: 'false',
    Internal: String(n.internal),
    Labels: labelList(n.labels),
    CreatedAt: n.createdAt,
  }));
  printRows(rows, [
    { key: 'ID', header: 'NETWORK ID' },
    { key: 'Name', header: 'NAME' },
    { key: 'Driver', header: 'DRIVER' },
    { key: 'Scope', header: 'SCOPE' },
  ], f.format);
}

function inspect(names: string[], f: { format?: string }): Promise<void> {
  return inspectNames(names, (e, name) => {
    const n = e.networks.find(name);
    return n && networkInspect(e.networks, n);
  }, (name) => `Error response from daemon: network ${name} not found`, f.format);
}

async function prune(f: { force?: boolean; filter?: string[] }): Promise<void> {
  const test = networkFilter(f.filter ?? []);
  if (!f.force && !(await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return;
  const gone = await withEngine((e) => e.networks.prune(test));
  if (gone.length > 0) out(`Deleted Networks:\n${gone.join('\n')}\n`);
}

export function registerNetworkCommands(program: Command): void {
  const net = program.command('network').description('Manage networks');
  net
    .command('create')
    .description('Create a network')
    .argument('<network>')
    .option('-d, --driver <string>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <strings>', 'Subnet in CIDR format that represents a network segment', collect)
    .option('--gateway <strings>', 'IPv4 Gateway for the master subnet', collect)
    .option('--ip-range <strings>', 'Allocate container ip from a sub-range', collect)
    .option('--internal', 'Restrict external access to the network')
    .option('--label <list>', 'Set metadata on a network', collect)
    .option('-o, --opt <map>', 'Set driver specific options', collect)
    .action(create);
  net
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'Only display network IDs')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'driver=bridge')", collect)
    .option('--format <string>', 'Format output using a custom template')
    .option('--no-trunc', 'Do not truncate the output')
    .action(list);
  net
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(inspect);
  net
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .option('-f, --force', 'Do not error if the network does not exist')
    .action((names: string[], f: { force?: boolean }) =>
      eachName(names, (engine, name) => {
        if (!(f.force && !engine.networks.find(name))) {
          engine.networks.remove(name);
          out(name);
        }
        return Promise.resolve();
      }),
    );
  net
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'label=<label>')", collect)
    .action(prune);
  net
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <strings>', 'Add network-scoped alias for the container', collect)
    .option('--ip <string>', 'IPv4 address (e.g., 172.30.100.104)')
    .action(async (name: string, ref: string, f: { alias?: string[]; ip?: string }) => {
      try {
        await withEngine((e) => e.networks.connect(name, e.containers.get(ref), { ...(f.ip ? { ip: f.ip } : {}), aliases: f.alias ?? [] }));
      } catch (e) {
        daemonError(e);
      }
    });
  net
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (name: string, ref: string) => {
      try {
        await withEngine((e) => e.networks.disconnect(name, e.containers.get(ref)));
      } catch (e) {
        daemonError(e);
      }
    });
}
