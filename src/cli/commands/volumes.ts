/** Volume verbs: volume create, ls, inspect, rm, prune (Docker's flags, output and exit codes). */
import type { Command } from 'commander';
import { parseVolumeFilters } from '../../engine/volumes.js';
import { HullError } from '../../util/errors.js';
import { collect, confirm, daemonError, eachName, out, withEngine } from '../context.js';
import { keyValueFlags, labelList } from '../key-values.js';
import { inspectNames, printRows } from '../output.js';
import { humanSize } from '../../util/units.js';

/** The docker CLI reports an engine refusal as `Error response from daemon: …` and exits 1. */
function asDaemonCall<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.exitCode = daemonError(e);
    }
  };
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create')
    .description('Create a volume')
    .argument('[volume]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('--label <list>', 'Set metadata for a volume', collect)
    .option('-o, --opt <map>', 'Set driver specific options', collect)
    .option('--name <string>', 'Specify volume name')
    .action(asDaemonCall(async (arg: string | undefined, flags: { driver: string; label?: string[]; opt?: string[]; name?: string }) => {
      if (arg !== undefined && flags.name !== undefined && arg !== flags.name) {
        throw new HullError('INVALID_ARGUMENT', `conflicting options: either specify --name or provide positional arg, not both`);
      }
      const labels = keyValueFlags(flags.label, '--label');
      const options = keyValueFlags(flags.opt, '--opt');
      const v = await withEngine((e) => e.volumes.create(arg ?? flags.name, { driver: flags.driver, labels, options }));
      out(v.Name);
    }));

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'Only display volume names')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'dangling=true')", collect)
    .option('--format <string>', 'Format output using a custom template')
    .action(asDaemonCall(async (flags: { quiet?: boolean; filter?: string[]; format?: string }) => {
      const filters = parseVolumeFilters(flags.filter ?? []);
      const list = await withEngine((e) => e.volumes.list(filters));
      if (flags.quiet) {
        list.forEach((v) => out(v.Name));
        return;
      }
      const rows = list.map((v) => ({
        Driver: v.Driver,
        Name: v.Name,
        Mountpoint: v.Mountpoint,
        Scope: v.Scope,
        Labels: labelList(v.Labels),
        CreatedAt: v.CreatedAt,
        Size: 'N/A',
        Links: 'N/A',
      }));
      printRows(rows, [
        { key: 'Driver', header: 'DRIVER' },
        { key: 'Name', header: 'VOLUME NAME' },
      ], flags.format);
    }));

  volume
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action((names: string[], flags: { format?: string }) =>
      inspectNames(names, (e, n) => e.volumes.find(n), (n) => `Error: No such volume: ${n}`, flags.format));

  volume
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes. You cannot remove a volume that is in use by a container.')
    .argument('<volume...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action((names: string[], flags: { force?: boolean }) =>
      eachName(names, async (engine, n) => {
        await engine.volumes.remove(n, flags.force ?? false);
        out(n);
      }),
    );

  volume
    .command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<label>")', collect)
    .action(asDaemonCall(async (flags: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const filters = parseVolumeFilters(flags.filter ?? [], ['label']);
      const warning = flags.all
        ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      if (!flags.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const result = await withEngine((e) => e.volumes.prune({ all: flags.all ?? false, filters }));
      if (result.VolumesDeleted.length > 0) {
        out('Deleted Volumes:');
        result.VolumesDeleted.forEach((n) => out(n));
        out('');
      }
      out(`Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    }));
}
