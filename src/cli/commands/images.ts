/** Image verbs: pull, push, images, image inspect, tag, rmi, history, save, load, import, image prune. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Engine } from '../../engine/engine.js';
import { familiar, type ImageSummary } from '../../engine/image-views.js';
import { parseImageFilters, type ImageFilters } from '../../engine/images.js';
import { shortId } from '../../image/digest.js';
import { parsePlatform } from '../../image/platform.js';
import { formatReference, parseNormalizedTagged, parseReference, repositoryName } from '../../image/reference.js';
import { HullError } from '../../util/errors.js';
import { collect, confirm, eachName, openInput, out, withEngine } from '../context.js';
import { inspectNames, printRows, type Column } from '../output.js';
import { createProgress, progressMode } from '../progress.js';
import { humanSize, timeAgo } from '../../util/units.js';

interface ImagesOpts {
  all?: boolean;
  digests?: boolean;
  filter?: string[];
  format?: string;
  /** commander turns --no-trunc into trunc: false */
  trunc?: boolean;
  quiet?: boolean;
}

const IMAGE_COLUMNS: Column[] = [
  { key: 'Repository', header: 'REPOSITORY' },
  { key: 'Tag', header: 'TAG' },
  { key: 'ID', header: 'IMAGE ID' },
  { key: 'CreatedSince', header: 'CREATED' },
  { key: 'Size', header: 'SIZE' },
];

/** One row per (image, tag) as `docker images` prints them; untagged images show <none>. */
function imageRows(images: ImageSummary[], noTrunc: boolean): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  for (const img of images) {
    const id = noTrunc ? img.Id : shortId(img.Id);
    const digestFor = (repo: string): string => img.RepoDigests.find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? '<none>';
    const base = {
      ID: id,
      CreatedSince: timeAgo(img.Created * 1000),
      CreatedAt: new Date(img.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
      Size: humanSize(img.Size),
      Containers: img.Containers < 0 ? 'N/A' : String(img.Containers),
      SharedSize: 'N/A',
      UniqueSize: 'N/A',
      VirtualSize: humanSize(img.Size),
    };
    if (img.RepoTags.length === 0 && img.RepoDigests.length > 0) {
      for (const d of img.RepoDigests) {
        const [repo, digest] = d.split('@') as [string, string];
        rows.push({ Repository: repo, Tag: '<none>', Digest: digest, ...base });
      }
      continue;
    }
    if (img.RepoTags.length === 0) {
      rows.push({ Repository: '<none>', Tag: '<none>', Digest: '<none>', ...base });
      continue;
    }
    for (const t of img.RepoTags) {
      const colon = t.lastIndexOf(':');
      const repo = t.slice(0, colon);
      rows.push({ Repository: repo, Tag: t.slice(colon + 1), Digest: digestFor(repo), ...base });
    }
  }
  return rows;
}

async function runPull(engine: Engine, name: string, opts: { quiet?: boolean; platform?: string; allTags?: boolean }): Promise<void> {
  if (opts.allTags) throw new HullError('INVALID_ARGUMENT', '--all-tags is not supported: pull one tag or digest at a time');
  const ref = parseReference(name);
  const mode = progressMode(process.stdout, opts.quiet ?? false);
  if (ref.tag === undefined && ref.digest === undefined && mode !== 'quiet') out('Using default tag: latest');
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const result = await engine.pull(name, {
      progress: createProgress(process.stdout, mode),
      signal: controller.signal,
      ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
    });
    out(formatReference(result.ref));
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

async function runPush(engine: Engine, name: string, opts: { quiet?: boolean; allTags?: boolean }): Promise<void> {
  const mode = progressMode(process.stdout, opts.quiet ?? false);
  const progress = createProgress(process.stdout, mode);
  const ref = parseReference(name);
  if (opts.allTags) {
    if (ref.tag !== undefined || ref.digest !== undefined) throw new HullError('INVALID_ARGUMENT', 'tag can\'t be used with --all-tags/-a');
    const tags = engine.tagsOfRepository(repositoryName(ref));
    if (tags.length === 0) throw new HullError('IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${familiar(formatReference({ ...ref, tag: 'latest' }))}`);
    for (const t of tags) await engine.push(t, progress);
    return;
  }
  if (ref.tag === undefined && mode !== 'quiet') out('Using default tag: latest');
  const result = await engine.push(name, progress);
  if (mode === 'quiet') out(formatReference(result.ref));
}

function listImagesCommand(program: Command, name: string, aliases: string[] = []): Command {
  const cmd = program
    .command(name)
    .description('List images')
    .argument('[repository]', 'REPOSITORY[:TAG] to show')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .action(async (repository: string | undefined, opts: ImagesOpts) => {
      const filters: ImageFilters = parseImageFilters(opts.filter ?? []);
      if (repository) (filters.reference ??= []).push(repository);
      const images = await withEngine((e) => e.listImages(filters));
      const noTrunc = opts.trunc === false;
      if (opts.quiet) {
        const ids = [...new Set(images.map((i) => (noTrunc ? i.Id : shortId(i.Id))))];
        ids.forEach((id) => out(id));
        return;
      }
      const columns = opts.digests ? [...IMAGE_COLUMNS.slice(0, 2), { key: 'Digest', header: 'DIGEST' }, ...IMAGE_COLUMNS.slice(2)] : IMAGE_COLUMNS;
      printRows(imageRows(images, noTrunc), columns, opts.format);
    });
  for (const a of aliases) cmd.alias(a);
  return cmd;
}

function inspectImages(names: string[], format: string | undefined): Promise<void> {
  return inspectNames(names, (engine, n) => {
    try {
      return engine.inspectImage(n);
    } catch (e) {
      if (e instanceof HullError && e.code === 'IMAGE_NOT_FOUND') return undefined;
      throw e;
    }
  }, (n) => `Error: No such image: ${n}`, format);
}

function removeImages(names: string[], opts: { force?: boolean }): Promise<void> {
  return eachName(names, async (engine, n) => {
    for (const item of await engine.removeImage(n, opts)) {
      out('Untagged' in item ? `Untagged: ${item.Untagged}` : `Deleted: ${item.Deleted}`);
    }
  });
}

export function registerImageCommands(program: Command): void {
  program
    .command('pull')
    .description('Download an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .action((name: string, opts: { quiet?: boolean; platform?: string; allTags?: boolean }) => withEngine((e) => runPull(e, name, opts)));

  program
    .command('push')
    .description('Upload an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .action((name: string, opts: { quiet?: boolean; allTags?: boolean }) => withEngine((e) => runPush(e, name, opts)));

  listImagesCommand(program, 'images');

  const image = program.command('image').description('Manage images');
  listImagesCommand(image, 'ls', ['list']);
  image
    .command('inspect')
    .description('Display detailed information on one or more images')
    .argument('<image...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action((names: string[], opts: { format?: string }) => inspectImages(names, opts.format));

  const tag = (cmd: Command): void => {
    cmd
      .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
      .argument('<source>', 'SOURCE_IMAGE[:TAG]')
      .argument('<target>', 'TARGET_IMAGE[:TAG]')
      .action((source: string, target: string) => withEngine((e) => e.tag(source, target)));
  };
  tag(program.command('tag'));
  tag(image.command('tag'));

  const rmi = (cmd: Command): void => {
    cmd
      .description('Remove one or more images')
      .argument('<image...>')
      .option('-f, --force', 'Force removal of the image')
      .option('--no-prune', 'Do not delete untagged parents')
      .action((names: string[], opts: { force?: boolean }) => removeImages(names, opts));
  };
  rmi(program.command('rmi'));
  rmi(image.command('rm').alias('remove'));

  const history = (cmd: Command): void => {
    cmd
      .description('Show the history of an image')
      .argument('<image>')
      .option('--format <string>', 'Format output using a custom template')
      .option('-H, --human', 'Print sizes and dates in human readable format', true)
      .option('--no-human', 'Print sizes and dates as raw numbers')
      .option('--no-trunc', "Don't truncate output")
      .option('-q, --quiet', 'Only show image IDs')
      .action(async (name: string, opts: { format?: string; human: boolean; trunc?: boolean; quiet?: boolean }) => {
        const items = await withEngine((e) => e.history(name));
        const noTrunc = opts.trunc === false;
        if (opts.quiet) {
          items.forEach((i) => out(noTrunc || i.Id === '<missing>' ? i.Id : shortId(i.Id)));
          return;
        }
        const rows = items.map((i) => {
          const createdBy = i.CreatedBy.replace(/\s+/g, ' ');
          return {
            ID: noTrunc || i.Id === '<missing>' ? i.Id : shortId(i.Id),
            CreatedSince: opts.human ? timeAgo(i.Created * 1000) : new Date(i.Created * 1000).toISOString(),
            CreatedAt: new Date(i.Created * 1000).toISOString(),
            CreatedBy: noTrunc || createdBy.length <= 45 ? createdBy : `${createdBy.slice(0, 44)}…`,
            Size: opts.human ? humanSize(i.Size) : String(i.Size),
            Comment: i.Comment,
          };
        });
        printRows(
          rows,
          [
            { key: 'ID', header: 'IMAGE' },
            { key: 'CreatedSince', header: 'CREATED' },
            { key: 'CreatedBy', header: 'CREATED BY' },
            { key: 'Size', header: 'SIZE' },
            { key: 'Comment', header: 'COMMENT' },
          ],
          opts.format,
        );
      });
  };
  history(program.command('history'));
  history(image.command('history'));

  const save = (cmd: Command): void => {
    cmd
      .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
      .argument('<image...>')
      .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
      .action(async (names: string[], opts: { output?: string }) => {
        if (!opts.output && process.stdout.isTTY) {
          throw new HullError('INVALID_ARGUMENT', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
        }
        await withEngine(async (e) => {
          if (!opts.output) return e.save(names, process.stdout);
          // Write beside the target and rename, so a failed save never leaves a truncated archive.
          const tmp = `${opts.output}.hull-tmp-${process.pid}`;
          const file = createWriteStream(tmp);
          try {
            await e.save(names, file);
            if (!file.writableFinished) await once(file, 'finish');
            await rename(tmp, opts.output);
          } catch (err) {
            file.destroy();
            await rm(tmp, { force: true });
            throw err;
          }
        });
      });
  };
  save(program.command('save'));
  save(image.command('save'));

  const load = (cmd: Command): void => {
    cmd
      .description('Load an image from a tar archive or STDIN')
      .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'Suppress the load output')
      .action(async (opts: { input?: string; quiet?: boolean }) => {
        if (!opts.input && process.stdin.isTTY) {
          throw new HullError('INVALID_ARGUMENT', 'requested load from stdin, but stdin is empty');
        }
        const input = opts.input ? await openInput(opts.input) : process.stdin;
        const mode = progressMode(process.stdout, opts.quiet ?? false);
        const result = await withEngine((e) => e.load(input, createProgress(process.stdout, mode === 'quiet' ? 'quiet' : 'plain')));
        for (const line of result.messages) out(line);
      });
  };
  load(program.command('load'));
  load(image.command('load'));

  const importCmd = (cmd: Command): void => {
    cmd
      .description('Import the contents from a tarball to create a filesystem image')
      .argument('<file>', 'file or - for STDIN')
      .argument('[reference]', 'REPOSITORY[:TAG]')
      .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-m, --message <message>', 'Set commit message for imported image')
      .option('--platform <string>', 'Set platform if server is multi-platform capable')
      .action(async (file: string, reference: string | undefined, opts: { change?: string[]; message?: string; platform?: string }) => {
        if (reference) parseNormalizedTagged(reference);
        const input = file === '-' ? process.stdin : await openInput(file);
        const id = await withEngine((e) =>
          e.import(input, {
            ...(reference ? { ref: reference } : {}),
            changes: opts.change ?? [],
            ...(opts.message ? { message: opts.message } : {}),
            source: file === '-' ? '-' : file,
            ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
          }),
        );
        out(id);
      });
  };
  importCmd(program.command('import'));
  importCmd(image.command('import'));

  image
    .command('prune')
    .description('Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect)
    .action(async (opts: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const warning = opts.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!opts.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const filters = parseImageFilters(opts.filter ?? []);
      const result = await withEngine((e) => e.pruneImages({ all: opts.all ?? false, filters }));
      if (result.ImagesDeleted.length > 0) {
        out('Deleted Images:');
        for (const item of result.ImagesDeleted) out('Untagged' in item ? `untagged: ${item.Untagged}` : `deleted: ${item.Deleted}`);
        out('');
      }
      out(`Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    });
}
