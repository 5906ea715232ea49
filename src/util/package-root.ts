import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HullError } from './errors.js';

let cached: string | undefined;

/**
 * hull's package root: the nearest ancestor with a package.json. This module runs both as
 * src/util/package-root.ts (tsx) and as dist/src/util/package-root.js (built), at different
 * depths; the native addon and the monitor binary live under the root's build/.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new HullError('INTERNAL', `cannot find hull's package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
