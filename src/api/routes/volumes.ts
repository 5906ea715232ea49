/** Volume endpoints: list, create, inspect, delete (with force), prune (thin over engine/volumes.ts). */
import { parseVolumeFilters } from '../../engine/volumes.js';
import { HullError } from '../../util/errors.js';
import { boolParam, expectType, filterParam, readJson, sendJson, stringMap, sendStatus, type Ctx, type Route } from '../http.js';

function list(ctx: Ctx): void {
  const filters = parseVolumeFilters(filterParam(ctx.query));
  sendJson(ctx.res, 200, { Volumes: ctx.engine.volumes.list(filters), Warnings: [] });
}

async function create(ctx: Ctx): Promise<void> {
  const body = await readJson(ctx);
  expectType(body.Name, 'string', 'Name');
  expectType(body.Driver, 'string', 'Driver');
  const name = (body.Name as string | undefined) || undefined;
  const v = await ctx.engine.volumes.create(name, {
    driver: (body.Driver as string | undefined) || 'local',
    labels: stringMap(body.Labels, 'Labels'),
    options: stringMap(body.DriverOpts, 'DriverOpts'),
  });
  sendJson(ctx.res, 201, v);
}

function inspect(ctx: Ctx): void {
  const name = ctx.params[0]!;
  const v = ctx.engine.volumes.find(name);
  if (!v) throw new HullError('NOT_FOUND', `get ${name}: no such volume`);
  sendJson(ctx.res, 200, v);
}

async function remove(ctx: Ctx): Promise<void> {
  await ctx.engine.volumes.remove(ctx.params[0]!, boolParam(ctx.query, 'force'));
  sendStatus(ctx.res, 204);
}

/** `all=true` (API 1.42+) widens prune from anonymous volumes to every unused one, as `docker volume prune -a`. */
async function prune(ctx: Ctx): Promise<void> {
  const raw = filterParam(ctx.query);
  const allValues = raw.filter((f) => f.startsWith('all=')).map((f) => f.slice(4));
  if (allValues.some((v) => !['true', 'false', '1', '0'].includes(v))) throw new HullError('INVALID_ARGUMENT', `invalid filter 'all=${allValues.join(',')}'`);
  const all = allValues.some((v) => v === 'true' || v === '1');
  const filters = parseVolumeFilters(raw.filter((f) => !f.startsWith('all=')), ['label']);
  sendJson(ctx.res, 200, await ctx.engine.volumes.prune({ all, filters }));
}

export const volumeRoutes: Route[] = [
  { method: 'GET', path: '/volumes', handler: list },
  { method: 'POST', path: '/volumes/create', handler: create },
  { method: 'POST', path: '/volumes/prune', handler: prune },
  { method: 'GET', path: '/volumes/{name}', handler: inspect },
  { method: 'DELETE', path: '/volumes/{name}', handler: remove },
];
