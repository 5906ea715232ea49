/** Network endpoints: list, inspect, create, delete, connect, disconnect, prune (thin over engine/networks.ts). */
import { networkFilter } from '../../engine/network-filters.js';
import { networkInspect } from '../../engine/network-views.js';
import type { EndpointRequest, NetworkCreateOptions } from '../../engine/networks.js';
import { HullError } from '../../util/errors.js';
import { expectType, filterParam, readJson, sendJson, stringMap, sendStatus, type Ctx, type Route } from '../http.js';

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

/** Docker's NetworkCreateRequest → the engine's options (one IPv4 pool, as the CLI allows). */
export function networkCreateOptions(body: Record<string, unknown>): NetworkCreateOptions {
  expectType(body.Name, 'string', 'Name');
  expectType(body.Driver, 'string', 'Driver');
  expectType(body.Internal, 'boolean', 'Internal');
  expectType(body.IPAM, 'object', 'IPAM');
  const name = (body.Name as string | undefined) ?? '';
  if (name === '') throw invalid('network name must not be empty');
  if (body.EnableIPv6 === true) throw invalid('hull networks are IPv4 only: EnableIPv6 is not supported');
  const ipam = (body.IPAM ?? {}) as { Driver?: unknown; Config?: unknown };
  expectType(ipam.Driver, 'string', 'IPAM.Driver');
  if (ipam.Driver && ipam.Driver !== 'default') throw new HullError('NOT_FOUND', `plugin "${ipam.Driver as string}" not found`);
  expectType(ipam.Config, 'array', 'IPAM.Config');
  const pools = (ipam.Config ?? []) as unknown[];
  if (pools.length > 1) throw invalid('hull networks have one IPv4 subnet: give IPAM.Config at most one entry');
  const pool = (pools[0] ?? {}) as Record<string, unknown>;
  expectType(pool, 'object', 'IPAM.Config');
  for (const k of ['Subnet', 'Gateway', 'IPRange']) expectType(pool[k], 'string', `IPAM.Config.${k}`);
  const driver = (body.Driver as string | undefined) || 'bridge';
  return {
    name,
    driver,
    ...(pool.Subnet ? { subnet: pool.Subnet as string } : {}),
    ...(pool.Gateway ? { gateway: pool.Gateway as string } : {}),
    ...(pool.IPRange ? { ipRange: pool.IPRange as string } : {}),
    internal: body.Internal === true,
    labels: stringMap(body.Labels, 'Labels'),
    options: stringMap(body.Options, 'Options'),
  };
}

/** EndpointConfig of a connect request (and of NetworkingConfig at container create). */
export function endpointRequest(v: unknown, field: string): EndpointRequest {
  expectType(v, 'object', field);
  const e = (v ?? {}) as Record<string, unknown>;
  expectType(e.IPAMConfig, 'object', `${field}.IPAMConfig`);
  expectType(e.Aliases, 'array', `${field}.Aliases`);
  const ipam = (e.IPAMConfig ?? {}) as Record<string, unknown>;
  expectType(ipam.IPv4Address, 'string', `${field}.IPAMConfig.IPv4Address`);
  const aliases = (e.Aliases ?? []) as unknown[];
  if (aliases.some((a) => typeof a !== 'string')) throw invalid(`json: cannot unmarshal number into Go struct field ${field}.Aliases of type string`);
  return {
    ...(ipam.IPv4Address ? { IPAMConfig: { IPv4Address: ipam.IPv4Address as string } } : {}),
    ...(aliases.length > 0 ? { Aliases: aliases as string[] } : {}),
  };
}

function list(ctx: Ctx): void {
  const keep = networkFilter(filterParam(ctx.query));
  const ns = ctx.engine.networks;
  // Since API 1.28 the list does not carry each network's containers (Docker's smaller form).
  sendJson(ctx.res, 200, ns.list().filter(keep).map((n) => ({ ...networkInspect(ns, n), Containers: {} })));
}

function inspect(ctx: Ctx): void {
  const ns = ctx.engine.networks;
  sendJson(ctx.res, 200, networkInspect(ns, ns.get(ctx.params[0]!)));
}

async function create(ctx: Ctx): Promise<void> {
  const n = ctx.engine.networks.create(networkCreateOptions(await readJson(ctx)));
  sendJson(ctx.res, 201, { Id: n.id, Warning: '' });
}

function remove(ctx: Ctx): void {
  ctx.engine.networks.remove(ctx.params[0]!);
  sendStatus(ctx.res, 204);
}

async function connect(ctx: Ctx): Promise<void> {
  const body = await readJson(ctx);
  expectType(body.Container, 'string', 'Container');
  if (!body.Container) throw invalid('no container specified');
  const c = ctx.engine.containers.get(body.Container as string);
  const ep = endpointRequest(body.EndpointConfig, 'EndpointConfig');
  ctx.engine.networks.connect(ctx.params[0]!, c, { ...(ep.IPAMConfig?.IPv4Address ? { ip: ep.IPAMConfig.IPv4Address } : {}), aliases: ep.Aliases ?? [] });
  sendStatus(ctx.res, 200);
}

async function disconnect(ctx: Ctx): Promise<void> {
  const body = await readJson(ctx);
  expectType(body.Container, 'string', 'Container');
  expectType(body.Force, 'boolean', 'Force');
  if (!body.Container) throw invalid('no container specified');
  const c = ctx.engine.containers.find(body.Container as string);
  if (!c) {
    // Docker: with Force, a container that is gone is not an error.
    if (body.Force === true) return sendStatus(ctx.res, 200);
    throw new HullError('NOT_FOUND', `No such container: ${body.Container as string}`);
  }
  ctx.engine.networks.disconnect(ctx.params[0]!, c);
  sendStatus(ctx.res, 200);
}

function prune(ctx: Ctx): void {
  const keep = networkFilter(filterParam(ctx.query));
  sendJson(ctx.res, 200, { NetworksDeleted: ctx.engine.networks.prune(keep) });
}

export const networkRoutes: Route[] = [
  { method: 'GET', path: '/networks', handler: list },
  { method: 'POST', path: '/networks/create', handler: create },
  { method: 'POST', path: '/networks/prune', handler: prune },
  { method: 'GET', path: '/networks/{id}', handler: inspect },
  { method: 'DELETE', path: '/networks/{id}', handler: remove },
  { method: 'POST', path: '/networks/{id}/connect', handler: connect },
  { method: 'POST', path: '/networks/{id}/disconnect', handler: disconnect },
];
