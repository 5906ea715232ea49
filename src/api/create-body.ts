/**
 * POST /containers/create's body (Config fields at the top level, HostConfig, NetworkingConfig)
 * → the engine's CreateRequest. Docker's clients send every field, most of them zero or null:
 * a zero/null means "the default" here, fields hull does not know are ignored (as dockerd
 * ignores unknown JSON), and a field of the wrong type is Docker's 400, never a crash.
 */
import { defaultHostConfig, type CreateRequest } from '../engine/container-create.js';
import type { ContainerConfig, HostConfig } from '../container/model.js';
import type { EndpointRequest } from '../engine/networks.js';
import { HullError } from '../util/errors.js';
import { endpointRequest } from './routes/networks.js';

type Kind = 'string' | 'number' | 'boolean' | 'strings' | 'object';

const CONFIG_FIELDS: Record<keyof ContainerConfig, Kind> = {
  Hostname: 'string',
  Domainname: 'string',
  User: 'string',
  AttachStdin: 'boolean',
  AttachStdout: 'boolean',
  AttachStderr: 'boolean',
  ExposedPorts: 'object',
  Tty: 'boolean',
  OpenStdin: 'boolean',
  StdinOnce: 'boolean',
  Env: 'strings',
  Cmd: 'strings',
  Image: 'string',
  Volumes: 'object',
  WorkingDir: 'string',
  Entrypoint: 'strings',
  OnBuild: 'strings',
  Labels: 'object',
  StopSignal: 'string',
  StopTimeout: 'number',
};

function kindOf(v: unknown): Kind | 'array' | 'null' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.every((x) => typeof x === 'string') ? 'strings' : 'array';
  return typeof v as Kind;
}

function typeError(field: string, v: unknown, want: Kind): HullError {
  const goType = { string: 'string', number: 'int64', boolean: 'bool', strings: '[]string', object: 'map' }[want];
  return new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${kindOf(v) === 'strings' ? 'array' : kindOf(v)} into Go struct field ${field} of type ${goType}`);
}

/** Docker's StrSlice: a string is a one-element list. */
function coerce(field: string, v: unknown, want: Kind): unknown {
  if (want === 'strings' && typeof v === 'string') return [v];
  if (kindOf(v) !== want) throw typeError(field, v, want);
  return v;
}

function hostKind(dflt: unknown): Kind | undefined {
  if (typeof dflt === 'string' || typeof dflt === 'number' || typeof dflt === 'boolean') return typeof dflt as Kind;
  if (dflt !== null && typeof dflt === 'object') return 'object';
  return undefined; // null default: a list, or a nullable number (PidsLimit, Init)
}

/** HostConfig fields the engine takes that have no entry in its defaults (absent = none). */
const OPTIONAL_HOST_FIELDS: Record<string, Kind | 'array'> = {
  PortBindings: 'object',
  PublishAllPorts: 'boolean',
  Mounts: 'array',
  /** hull's own: the guest kernel of an Isolation "vm" container (`--kernel`). */
  VmKernel: 'string',
};

/** HostConfig.Mounts: a list of objects whose text fields are strings (the engine checks the rest). */
function checkMounts(list: unknown[]): void {
  for (const m of list) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw typeError('HostConfig.Mounts', m, 'object');
    for (const f of ['Type', 'Source', 'Target']) {
      const v = (m as Record<string, unknown>)[f];
      if (v !== undefined && v !== null && typeof v !== 'string') throw typeError(`HostConfig.Mounts.${f}`, v, 'string');
    }
  }
}

/**
 * HostConfig.PortBindings as the engine takes them (what `-p` produces): every binding with
 * both fields as strings. API clients leave fields out (testcontainers sends only
 * `{"HostPort": "0"}`); Docker reads an absent HostIp as every address and a HostPort of "0"
 * or "" as a free port of its choosing.
 */
function portBindings(raw: Record<string, unknown>): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [key, list] of Object.entries(raw)) {
    if (list === null || list === undefined) continue;
    const wrong = (v: unknown, type: string): HullError => new HullError('INVALID_ARGUMENT', `json: cannot unmarshal ${kindOf(v) === 'strings' ? 'array' : kindOf(v)} into Go struct field HostConfig.PortBindings of type ${type}`);
    if (!Array.isArray(list)) throw wrong(list, '[]nat.PortBinding');
    out[key] = list.map((b: unknown) => {
      if (b === null || typeof b !== 'object' || Array.isArray(b)) throw wrong(b, 'nat.PortBinding');
      const { HostIp, HostPort } = b as { HostIp?: unknown; HostPort?: unknown };
      if (HostIp !== undefined && HostIp !== null && typeof HostIp !== 'string') throw typeError('HostConfig.PortBindings.HostIp', HostIp, 'string');
      if (HostPort !== undefined && HostPort !== null && typeof HostPort !== 'string') throw typeError('HostConfig.PortBindings.HostPort', HostPort, 'string');
      return { HostIp: HostIp ?? '', HostPort: HostPort === '0' ? '' : (HostPort ?? '') };
    });
  }
  return out;
}

function hostConfig(raw: unknown): Partial<HostConfig> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw typeError('HostConfig', raw, 'object');
  const defaults = defaultHostConfig() as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    const optional = OPTIONAL_HOST_FIELDS[k];
    if (optional) {
      if (optional === 'array' ? !Array.isArray(v) : kindOf(v) !== optional) throw typeError(`HostConfig.${k}`, v, optional === 'array' ? 'strings' : optional);
      if (k === 'Mounts') checkMounts(v as unknown[]);
      out[k] = k === 'PortBindings' ? portBindings(v as Record<string, unknown>) : v;
      continue;
    }
    if (!(k in defaults)) continue;
    const kind = hostKind(defaults[k]);
    if (kind) {
      if (kindOf(v) !== kind) throw typeError(`HostConfig.${k}`, v, kind);
    } else if (typeof v !== 'number' && typeof v !== 'boolean' && !Array.isArray(v)) {
      throw typeError(`HostConfig.${k}`, v, 'strings');
    }
    out[k] = v;
  }
  // Zero means "the daemon's default" for these.
  if (out.ShmSize === 0) delete out.ShmSize;
  if (out.NetworkMode === '') delete out.NetworkMode;
  const log = out.LogConfig as { Type?: unknown; Config?: unknown } | undefined;
  if (log) {
    if (log.Type !== undefined && typeof log.Type !== 'string') throw typeError('HostConfig.LogConfig.Type', log.Type, 'string');
    out.LogConfig = { Type: log.Type || 'json-file', Config: log.Config && typeof log.Config === 'object' ? log.Config : {} };
  }
  const rp = out.RestartPolicy as { Name?: unknown; MaximumRetryCount?: unknown } | undefined;
  if (rp) out.RestartPolicy = { Name: typeof rp.Name === 'string' ? rp.Name : '', MaximumRetryCount: typeof rp.MaximumRetryCount === 'number' ? rp.MaximumRetryCount : 0 };
  return out;
}

/** NetworkingConfig.EndpointsConfig: per network, the static IP and aliases (engine/networks.ts checks them). */
function networkingConfig(raw: unknown): CreateRequest['NetworkingConfig'] {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw typeError('NetworkingConfig', raw, 'object');
  const eps = (raw as { EndpointsConfig?: unknown }).EndpointsConfig;
  if (eps === undefined || eps === null) return undefined;
  if (typeof eps !== 'object' || Array.isArray(eps)) throw typeError('NetworkingConfig.EndpointsConfig', eps, 'object');
  const out: Record<string, EndpointRequest> = {};
  for (const [name, ep] of Object.entries(eps as Record<string, unknown>)) out[name] = endpointRequest(ep, `NetworkingConfig.EndpointsConfig.${name}`);
  return { EndpointsConfig: out };
}

export function toCreateRequest(body: Record<string, unknown>): CreateRequest {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const want = CONFIG_FIELDS[k as keyof ContainerConfig];
    if (!want || v === null || v === undefined) continue;
    config[k] = coerce(k, v, want);
  }
  if (typeof config.Image !== 'string' || config.Image === '') throw new HullError('INVALID_ARGUMENT', 'Config cannot be empty in order to create a container');
  const networking = networkingConfig(body.NetworkingConfig);
  return { Config: config as CreateRequest['Config'], HostConfig: hostConfig(body.HostConfig), ...(networking ? { NetworkingConfig: networking } : {}) };
}
