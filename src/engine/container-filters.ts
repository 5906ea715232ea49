/**
 * Docker's container list filters (`ps --filter`, GET /containers/json?filters=), as
 * `key=value` strings; the API turns its JSON map into the same strings.
 */
import type { Container } from './containers.js';
import { networkModeName, type NetworkService } from './networks.js';
import { HullError } from '../util/errors.js';

/** `network=NAME|ID`: the container has an endpoint there (exact name, or id prefix), or it is its mode (host, none). */
function onNetwork(ns: NetworkService, c: Container, v: string): boolean {
  const nets = ns.endpointsFor(c.id).map((e) => ns.networkById(e.networkId)).filter((n) => n !== undefined);
  if (nets.some((n) => n.name === v || n.id.startsWith(v))) return true;
  const mode = networkModeName(c.doc.HostConfig.NetworkMode);
  return (mode === 'host' || mode === 'none') && (mode === v || ns.find(mode)?.id.startsWith(v) === true);
}

export function psFilter(filters: string[], ns: NetworkService): (c: Container) => boolean {
  const tests: ((c: Container) => boolean)[] = [];
  for (const f of filters) {
    const i = f.indexOf('=');
    if (i <= 0) throw new HullError('INVALID_ARGUMENT', `bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, i);
    const v = f.slice(i + 1);
    switch (key) {
      case 'status':
        if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(v)) {
          throw new HullError('INVALID_ARGUMENT', `invalid filter 'status=${v}'`);
        }
        tests.push((c) => c.state.Status === v);
        break;
      case 'name':
        tests.push((c) => new RegExp(v).test(c.name));
        break;
      case 'id':
        tests.push((c) => c.id.startsWith(v));
        break;
      case 'label': {
        const j = v.indexOf('=');
        tests.push((c) => (j === -1 ? v in c.doc.Config.Labels : c.doc.Config.Labels[v.slice(0, j)] === v.slice(j + 1)));
        break;
      }
      case 'exited':
        tests.push((c) => c.state.Status === 'exited' && String(c.state.ExitCode) === v);
        break;
      case 'volume':
        // Docker matches a volume's name, a bind's source, or either's destination.
        tests.push((c) => (c.doc.MountPoints ?? []).some((m) => (m.Name ?? m.Source) === v || m.Destination === v.replace(/(.)\/+$/, '$1')));
        break;
      case 'network':
        tests.push((c) => onNetwork(ns, c, v));
        break;
      case 'ancestor':
        tests.push((c) => c.doc.Config.Image === v || c.imageId.startsWith(v) || c.imageId.slice(7).startsWith(v));
        break;
      default:
        throw new HullError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
  }
  return (c) => tests.every((t) => t(c));
}
