/** `hull compare [--runs N] [--format table|json] [--chart FILE.svg|FILE.png] IMAGE [CMD…]`: container vs VM, measured. */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { compare } from '../../engine/compare.js';
import { HullError } from '../../util/errors.js';
import { compareChart, compareTable } from '../compare-render.js';
import { out, printJson, withEngine } from '../context.js';

interface CompareFlags {
  runs: string;
  format: string;
  chart?: string;
}

/** Exit status after Ctrl-C, as a shell reports a command ended by SIGINT. */
const INTERRUPTED = 130;
export const DEFAULT_COMPARE_RUNS = 3;

function checkFlags(flags: CompareFlags): number {
  const runs = Number(flags.runs);
  if (!/^\d+$/.test(flags.runs) || runs < 1) throw new HullError('INVALID_ARGUMENT', `invalid argument "${flags.runs}" for "--runs" flag: must be a positive integer`);
  if (flags.format !== 'table' && flags.format !== 'json') throw new HullError('INVALID_ARGUMENT', `invalid argument "${flags.format}" for "--format" flag: must be table or json`);
  if (flags.chart !== undefined && !/\.(svg|png)$/i.test(flags.chart)) {
    throw new HullError('INVALID_ARGUMENT', `invalid argument "${flags.chart}" for "--chart" flag: the chart is an SVG or PNG file (name it *.svg or *.png)`);
  }
  return runs;
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('Run an image as a container and as a VM, and compare size, start time, memory and kernel')
    .argument('<image>')
    .argument('[command...]')
    .option('--runs <n>', 'Timed runs of each mode', String(DEFAULT_COMPARE_RUNS))
    .option('--format <format>', 'Output format: table or json', 'table')
    .option('--chart <file>', 'Also write a bar chart of the results (*.svg or *.png)')
    .passThroughOptions()
    .action(async (image: string, command: string[], flags: CompareFlags) => {
      const runs = checkFlags(flags);
      const abort = new AbortController();
      const interrupt = (sig: NodeJS.Signals): void => {
        if (abort.signal.aborted) return;
        process.stderr.write(`compare: ${sig}: stopping and removing every instance it started\n`);
        abort.abort(new HullError('INTERNAL', 'interrupted'));
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      try {
        const result = await withEngine((engine) =>
          compare(engine, { image, command, runs, progress: (line) => process.stderr.write(`${line}\n`), signal: abort.signal }),
        );
        if (flags.chart) await writeFile(flags.chart, await compareChart(result, flags.chart));
        if (flags.format === 'json') printJson(result);
        else out(compareTable(result));
      } catch (e) {
        if (!abort.signal.aborted) throw e;
        process.stderr.write('compare: interrupted; nothing it started is left\n');
        process.exitCode = INTERRUPTED;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
}
