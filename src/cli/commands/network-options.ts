/** `run`/`create` network flags → Docker's create request fields, as the docker CLI builds them. */
import type { CreateRequest } from '../../engine/container-create.js';
import { parseExpose, parsePublish } from '../../network/ports.js';

/** The network part of run/create's flags (RunFlags extends it). */
export interface NetFlags {
  network?: string;
  networkAlias?: string[];
  ip?: string;
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
}

export function portOptions(f: NetFlags): { config: { ExposedPorts?: Record<string, object> }; host: { PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null>; PublishAllPorts?: boolean } } {
  const { exposed, bindings } = parsePublish(f.publish ?? []);
  const all = { ...parseExpose(f.expose ?? []), ...exposed };
  return {
    config: Object.keys(all).length > 0 ? { ExposedPorts: all } : {},
    host: { ...(Object.keys(bindings).length > 0 ? { PortBindings: bindings } : {}), ...(f.publishAll ? { PublishAllPorts: true } : {}) },
  };
}

/** `--ip` and `--network-alias` belong to the endpoint of the network named by --network. */
export function networkingConfig(f: NetFlags): Pick<CreateRequest, 'NetworkingConfig'> {
  if (!f.ip && !(f.networkAlias?.length ?? 0)) return {};
  const name = f.network ?? 'default';
  return {
    NetworkingConfig: {
      EndpointsConfig: {
        [name]: { ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}), ...(f.networkAlias?.length ? { Aliases: f.networkAlias } : {}) },
      },
    },
  };
}
