/**
 * `network ls`/`network prune` filters (Docker's keys: driver, id, label, name, type, scope),
 * shared by the CLI's `--filter k=v` flags and the API's `filters` query parameter.
 */
import type { NetworkRow } from '../state/networks.js';
import { HullError } from '../util/errors.js';

const BUILTIN = ['bridge', 'host', 'none'];

/** Values of one key are alternatives (Docker: `name=a name=b` lists both); labels and keys all apply. */
export function networkFilter(filters: readonly string[]): (n: NetworkRow) => boolean {
  const byKey = new Map<string, ((n: NetworkRow) => boolean)[]>();
  const tests = {
    push(key: string, t: (n: NetworkRow) => boolean): void {
      byKey.set(key, [...(byKey.get(key) ?? []), t]);
    },
  };
  for (const f of filters) {
    const i = f.indexOf('=');
    if (i <= 0) throw new HullError('INVALID_ARGUMENT', `bad format of filter (expected name=value)`);
    const key = f.slice(0, i);
    const v = f.slice(i + 1);
    switch (key) {
      case 'driver':
        tests.push(key, (n) => n.driver === v);
        break;
      case 'id':
        tests.push(key, (n) => n.id.startsWith(v));
        break;
      case 'name':
        tests.push(key, (n) => n.name.includes(v));
        break;
      case 'label': {
        const j = v.indexOf('=');
        tests.push(f, (n) => (j === -1 ? v in n.labels : n.labels[v.slice(0, j)] === v.slice(j + 1)));
        break;
      }
      case 'type':
        if (v !== 'builtin' && v !== 'custom') throw new HullError('INVALID_ARGUMENT', `invalid filter: 'type'='${v}'`);
        tests.push(key, (n) => BUILTIN.includes(n.name) === (v === 'builtin'));
        break;
      case 'scope':
        tests.push(key, () => v === 'local');
        break;
      default:
        throw new HullError('INVALID_ARGUMENT', `invalid filter '${key}'`);
    }
  }
  return (n) => [...byKey.values()].every((alts) => alts.some((t) => t(n)));
}
