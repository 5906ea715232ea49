/**
 * RUN on a network: the build's RUN containers join the default `bridge` (Docker's default for
 * RUN) or a named user network through the engine's own network path (engine/networks.ts:
 * endpoint allocation, a hull-owned netns, `netavark setup`, aardvark DNS on user networks), as
 * a container started with `--network NAME` does. The attachment has no container row, so it
 * is registered in `build_steps` while the build holds it: its endpoint is not an orphan to
 * sweep, and a later build releases the network of a build whose process died (SIGKILL).
 */
import { createHash } from 'node:crypto';
import type { ContainerDoc } from '../container/model.js';
import { networkModeName, type BundleNetwork, type NetContainer, type NetworkService } from '../engine/networks.js';
import type { Db } from '../state/db.js';
import { HullError } from '../util/errors.js';
import { isPidAlive } from '../util/fs.js';

/** The network of a build's RUN steps: `none`, `host`, or a bridge network's name (`bridge` is the default). */
export type RunNetwork = 'none' | 'host' | { name: string };

/**
 * `--network` of `hull build` (or `networkmode` of POST /build) → RUN's network: Docker's
 * default is the default bridge. A named network must exist and be a bridge network.
 */
export function resolveRunNetwork(raw: string | undefined, networks: NetworkService | undefined): RunNetwork {
  const mode = networkModeName(raw ?? 'default');
  if (mode === 'none' || mode === 'host') return mode;
  if (mode.startsWith('container:')) throw new HullError('INVALID_ARGUMENT', `network mode "${mode}" is not supported by hull build (none, host, bridge or a network name)`);
  if (!networks) throw new HullError('INVALID_ARGUMENT', `network "${mode}" is not available to this build`);
  const n = networks.get(mode);
  if (n.driver !== 'bridge') throw new HullError('INVALID_ARGUMENT', `container cannot be connected to network "${n.name}" of driver "${n.driver}"`);
  return { name: n.name };
}

function stepNetContainer(id: string, name: string, network: string): NetContainer {
  // Only what engine/networks.ts reads of a container: its mode, no DNS overrides, no ports.
  const doc = { Config: { ExposedPorts: {} }, HostConfig: { NetworkMode: network, Dns: [], PortBindings: {}, PublishAllPorts: false } } as unknown as ContainerDoc;
  return { id, name, doc, state: { Status: 'created', Pid: 0 } };
}

/** A build's attachment to one network, shared by its RUN steps; `release` is idempotent. */
export interface StepNetwork {
  bundle: BundleNetwork;
  release(): void;
}

/** Connects `name` (the attachment's container name) to `network`: endpoint, netns, netavark. */
export function attachStep(db: Db, networks: NetworkService, name: string, network: string): StepNetwork {
  // 64 hex like a container id: netns, netavark and aardvark key on it.
  const id = createHash('sha256').update(name).digest('hex');
  const c = stepNetContainer(id, name, network);
  db.prepare('INSERT OR REPLACE INTO build_steps (container_id, name, network, pid) VALUES (?, ?, ?, ?)').run(id, name, network, process.pid);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    try {
      networks.removed(c);
    } finally {
      db.prepare('DELETE FROM build_steps WHERE container_id = ?').run(id);
    }
  };
  try {
    return { bundle: networks.prepare(c), release };
  } catch (e) {
    release();
    throw e;
  }
}

/** Releases the network attachments of builds whose process is gone (killed mid-build). */
export function sweepDeadSteps(db: Db, networks: NetworkService): void {
  const rows = db.prepare('SELECT container_id, name, network, pid FROM build_steps').all() as { container_id: string; name: string; network: string; pid: number }[];
  for (const r of rows) {
    if (r.pid === process.pid || isPidAlive(r.pid)) continue;
    try {
      networks.removed(stepNetContainer(r.container_id, r.name, r.network));
    } finally {
      db.prepare('DELETE FROM build_steps WHERE container_id = ?').run(r.container_id);
    }
  }
}
