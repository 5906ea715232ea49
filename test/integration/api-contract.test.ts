/**
 * The JSON hull serve returns for the main endpoints, checked against the schemas of Docker's
 * v1.44 spec (a copy in test/fixtures, with its license): every required property present, and every property the
 * schema describes of the type it says (objects recursively, through $ref and allOf).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { loadBusybox, startApiServer, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip } from '../helpers/hull.js';
import { packageRoot } from '../../src/util/package-root.js';

const SPEC = join(packageRoot(), 'test', 'fixtures', 'docker-engine-api-v1.44.yaml');
const skip = containerTestSkip(['runc', 'skopeo']) || (readable(SPEC) ? false : `needs ${SPEC}`);

function readable(p: string): boolean {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  allOf?: Schema[];
  additionalProperties?: Schema | boolean;
  'x-nullable'?: boolean;
}

let definitions: Record<string, Schema>;
let server: ApiServer;
let work: string;

function resolve(s: Schema): Schema {
  if (s.$ref) return resolve(definitions[s.$ref.replace('#/definitions/', '')]!);
  if (s.allOf) {
    const parts = s.allOf.map(resolve);
    return { type: 'object', properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})) as Record<string, Schema>, required: parts.flatMap((p) => p.required ?? []) };
  }
  return s;
}

/** Every mismatch of `value` against `schema`, as `path: problem`. */
function check(value: unknown, schema: Schema, path: string, out: string[]): void {
  const s = resolve(schema);
  if (value === null) return; // Docker itself sends null for many absent values
  switch (s.type) {
    case 'string':
      if (typeof value !== 'string') out.push(`${path}: expected string, got ${JSON.stringify(value)}`);
      return;
    case 'integer':
    case 'number':
      if (typeof value !== 'number') out.push(`${path}: expected ${s.type}, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path}: expected boolean, got ${JSON.stringify(value)}`);
      return;
    case 'array':
      if (!Array.isArray(value)) out.push(`${path}: expected array, got ${JSON.stringify(value)}`);
      else if (s.items) value.forEach((v, i) => check(v, s.items!, `${path}[${i}]`, out));
      return;
    default:
      if (s.properties || s.type === 'object') {
        if (typeof value !== 'object' || Array.isArray(value)) {
          out.push(`${path}: expected object, got ${JSON.stringify(value)}`);
          return;
        }
        const o = value as Record<string, unknown>;
        for (const r of s.required ?? []) if (!(r in o)) out.push(`${path}.${r}: required, missing`);
        for (const [k, sub] of Object.entries(s.properties ?? {})) if (k in o) check(o[k], sub, `${path}.${k}`, out);
      }
  }
}

function conforms(value: unknown, schema: Schema | string): void {
  const problems: string[] = [];
  check(value, typeof schema === 'string' ? { $ref: `#/definitions/${schema}` } : schema, typeof schema === 'string' ? schema : '$', problems);
  assert.deepEqual(problems, []);
}

function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath: server.socket, method, path: `/v1.44${path}`, headers: body ? { 'Content-Type': 'application/json' } : {} }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        res({ status: r.statusCode ?? 0, json: text ? (JSON.parse(text) as unknown) : undefined });
      });
    });
    req.on('error', rej);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** The schema of a path's response for `status`. */
function responseSchema(path: string, method: string, status: number): Schema {
  const paths = (load(readFileSync(SPEC, 'utf8')) as { paths: Record<string, Record<string, { responses: Record<string, { schema?: Schema }> }>> }).paths;
  const s = paths[path]?.[method]?.responses[String(status)]?.schema;
  assert.ok(s, `${method} ${path} ${status} has a schema in the spec`);
  return s;
}

describe('API responses against the v1.44 spec', { skip, timeout: 300_000 }, () => {
  let id = '';

  before(async () => {
    definitions = (load(readFileSync(SPEC, 'utf8')) as { definitions: Record<string, Schema> }).definitions;
    work = await mkdtemp(join(tmpdir(), 'hull-api-contract-'));
    server = await startApiServer();
    await loadBusybox(server.root, work);
    const created = await api('POST', '/containers/create?name=contract', { Image: 'busybox', Cmd: ['sleep', '300'], Labels: { a: 'b' } });
    assert.equal(created.status, 201);
    conforms(created.json, responseSchema('/containers/create', 'post', 201));
    id = (created.json as { Id: string }).Id;
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
  });

  after(async () => {
    if (server) {
      await api('DELETE', `/containers/${id}?force=1`);
      await server.stop();
    }
    await rm(work, { recursive: true, force: true });
  });

  test('the checker itself catches wrong types and missing required fields', () => {
    const problems: string[] = [];
    check({ Id: 5 }, { $ref: '#/definitions/IdResponse' }, 'IdResponse', problems);
    check({ StatusCode: 'x' }, { $ref: '#/definitions/ContainerWaitResponse' }, 'Wait', problems);
    check([{ Id: 'x', Names: 'notarray' }], { type: 'array', items: { $ref: '#/definitions/ContainerSummary' } }, 'List', problems);
    check({}, { $ref: '#/definitions/ErrorResponse' }, 'Err', problems);
    assert.deepEqual(problems, ['IdResponse.Id: expected string, got 5', 'Wait.StatusCode: expected integer, got "x"', 'List[0].Names: expected array, got "notarray"', 'Err.message: required, missing']);
  });

  test('version, info, system/df', async () => {
    conforms((await api('GET', '/version')).json, 'SystemVersion');
    conforms((await api('GET', '/info')).json, 'SystemInfo');
    conforms((await api('GET', '/system/df')).json, responseSchema('/system/df', 'get', 200));
  });

  test('containers: list, inspect, top, changes, wait', async () => {
    const list = (await api('GET', '/containers/json?all=1')).json as unknown[];
    assert.equal(list.length, 1);
    conforms(list, { type: 'array', items: { $ref: '#/definitions/ContainerSummary' } });
    conforms((await api('GET', `/containers/${id}/json`)).json, responseSchema('/containers/{id}/json', 'get', 200));
    conforms((await api('GET', `/containers/${id}/top`)).json, responseSchema('/containers/{id}/top', 'get', 200));
    conforms((await api('GET', `/containers/${id}/changes`)).json, responseSchema('/containers/{id}/changes', 'get', 200));
    const exec = await api('POST', `/containers/${id}/exec`, { Cmd: ['true'] });
    conforms(exec.json, 'IdResponse');
    conforms((await api('GET', `/exec/${(exec.json as { Id: string }).Id}/json`)).json, responseSchema('/exec/{id}/json', 'get', 200));
    const other = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] });
    const oid = (other.json as { Id: string }).Id;
    await api('POST', `/containers/${oid}/start`);
    conforms((await api('POST', `/containers/${oid}/wait`)).json, 'ContainerWaitResponse');
    conforms((await api('POST', '/containers/prune')).json, responseSchema('/containers/prune', 'post', 200));
  });

  test('images: list, inspect, history, delete; errors', async () => {
    conforms((await api('GET', '/images/json')).json, { type: 'array', items: { $ref: '#/definitions/ImageSummary' } });
    conforms((await api('GET', '/images/busybox/json')).json, 'ImageInspect');
    conforms((await api('GET', '/images/busybox/history')).json, responseSchema('/images/{name}/history', 'get', 200));
    assert.equal((await api('POST', '/images/busybox/tag?repo=contract&tag=1')).status, 201);
    conforms((await api('DELETE', '/images/contract:1')).json, responseSchema('/images/{name}', 'delete', 200));
    const missing = await api('GET', '/containers/nope/json');
    assert.equal(missing.status, 404);
    conforms(missing.json, 'ErrorResponse');
  });

  test('networks: create, list, inspect, prune; volumes: create, list, inspect, prune', async () => {
    const created = await api('POST', '/networks/create', { Name: 'contract-net', Labels: { a: 'b' } });
    assert.equal(created.status, 201);
    conforms(created.json, responseSchema('/networks/create', 'post', 201));
    conforms((await api('GET', '/networks')).json, { type: 'array', items: { $ref: '#/definitions/Network' } });
    conforms((await api('GET', '/networks/contract-net')).json, 'Network');
    conforms((await api('GET', '/networks/bridge')).json, 'Network');
    conforms((await api('POST', '/networks/prune')).json, responseSchema('/networks/prune', 'post', 200));
    const gone = await api('GET', '/networks/contract-net');
    assert.equal(gone.status, 404);
    conforms(gone.json, 'ErrorResponse');

    const vol = await api('POST', '/volumes/create', { Name: 'contract-vol', Labels: { a: 'b' } });
    assert.equal(vol.status, 201);
    conforms(vol.json, 'Volume');
    conforms((await api('GET', '/volumes')).json, 'VolumeListResponse');
    conforms((await api('GET', '/volumes/contract-vol')).json, 'Volume');
    conforms((await api('POST', '/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D')).json, responseSchema('/volumes/prune', 'post', 200));
    assert.equal((await api('GET', '/volumes/contract-vol')).status, 404);
  });
});
