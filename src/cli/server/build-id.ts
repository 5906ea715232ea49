import { statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';

/**
 * Identifies the build a warm worker loaded: the modification times of the CLI entry point
 * (tsc rewrites every output on `npm run build`), this module and the native addon. A worker
 * whose id differs from the current one must never serve a request.
 */
export function buildId(): string {
  const root = packageRoot();
  return [join(root, 'dist', 'src', 'cli', 'main.js'), join(root, 'dist', 'src', 'cli', 'server', 'worker.js'), join(root, 'build', 'Release', 'hull_native.node')]
    .map((p) => {
      try {
        const s = statSync(p, { bigint: true });
        return `${s.ino}.${s.mtimeNs}`;
      } catch {
        return '-';
      }
    })
    .join(':');
}
