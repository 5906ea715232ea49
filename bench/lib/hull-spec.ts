/**
 * hull's own OCI config for a container, for bare-runc bundles that run exactly what hull runs
 * (bench/run.ts' "runc hull-spec", bench/runtime.ts).
 */
import { readFileSync } from 'node:fs';
import { copyFile, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { cliOk } from './containers.js';
import type { Engine } from './containers.js';

/**
 * The config.json hull generates for `IMAGE true` (seccomp profile, mounts, cgroups, masked
 * paths), taken from a container hull starts for the purpose, for a bare-runc bundle of the same
 * container. The files hull bind-mounts (hosts, hostname, resolv.conf) are copied into the bundle.
 *
 * With its precompiled-filter cache emptied first, that container is one whose filter runc
 * compiles (`linux.seccomp` in its config; container/seccomp-filter.ts), and its monitor leaves
 * the filter in the cache again: `precompiledFilter` finds it there.
 */
export async function hullConfig(hull: Engine, bundleDir: string): Promise<Record<string, unknown>> {
  await rm(join(hull.stateRoot!, 'seccomp'), { recursive: true, force: true });
  const id = (await cliOk(hull, ['run', '-d', ...hull.runFlags, hull.image, 'sleep', '1000'])).trim();
  try {
    const spec = JSON.parse(readFileSync(join(hull.stateRoot!, 'containers', id, 'config.json'), 'utf8')) as {
      mounts: { source: string }[];
      linux: { cgroupsPath?: string; namespaces: { type: string; path?: string }[] };
    };
    // hull's network namespace goes with its container: runc makes a new, empty one instead.
    for (const ns of spec.linux.namespaces) if (ns.type === 'network') delete ns.path;
    for (const m of spec.mounts) {
      if (!m.source.startsWith(join(hull.stateRoot!, 'containers', id))) continue;
      const copy = join(bundleDir, `hull-${basename(m.source)}`);
      await copyFile(m.source, copy);
      m.source = copy;
    }
    spec.linux.cgroupsPath = `hull-bench-${process.pid}`;
    return spec;
  } finally {
    await cliOk(hull, ['rm', '-f', id]);
  }
}

/** The filter hull's engine captured for that config (after hullConfig): the one file of its cache. */
export async function precompiledFilter(hull: Engine): Promise<string> {
  const dir = join(hull.stateRoot!, 'seccomp');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.bpf'));
  if (files.length !== 1) throw new Error(`expected one captured filter in ${dir}, found ${files.length}`);
  return join(dir, files[0]!);
}
