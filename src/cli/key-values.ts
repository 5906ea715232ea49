/** `KEY=VALUE` list flags (`--label`, `--opt`, `--log-opt`, `--build-arg`-like lists) into a map. */
import { HullError } from '../util/errors.js';

/**
 * Later keys win, as in Docker. `--label` alone may name a key without a value (an empty label);
 * every other flag needs `=`, and no flag accepts an empty key.
 */
export function keyValueFlags(list: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i === 0 || (i === -1 && flag !== '--label')) throw new HullError('INVALID_ARGUMENT', `invalid argument "${kv}" for "${flag}" flag: ${kv} is not a key=value pair`);
    if (i === -1) out[kv] = '';
    else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Labels as `docker network ls/volume ls/ps --format '{{.Labels}}'` print them. */
export function labelList(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}
