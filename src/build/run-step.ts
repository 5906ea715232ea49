/**
 * RUN: the command runs as a container on the step's overlay root, in the foreground of the
 * build (`runc run`, no monitor: a build step has no life after the build), with the build's
 * network (`none` — its own empty namespace —, `host`, or the namespace run-network.ts set up
 * on a bridge network), Docker's default capabilities and seccomp profile, and its output
 * streamed to the build progress.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { writeEtcFiles } from '../container/etc-files.js';
import { execEnv } from '../container/exec.js';
import { runtimeRoot } from '../container/paths.js';
import { chooseRuntime, Runtime } from '../container/runtime.js';
import { resolveCapabilities } from '../container/spec/capabilities.js';
import { kernelSeccompArches } from '../container/spec/host-abis.js';
import { seccompForContainer, seccompProfileFor } from '../container/spec/seccomp.js';
import { buildSpec, cgroupsPathFor } from '../container/spec/spec.js';
import { resolveUser } from '../container/spec/user.js';
import type { BundleNetwork } from '../engine/networks.js';
import { HullError } from '../util/errors.js';
import { replaceFile } from '../util/fs.js';
import { stepContainerId, type StepRootfs } from './step-rootfs.js';

export interface RunInput {
  args: string[];
  env: string[];
  user: string;
  cwd: string;
  network: BundleNetwork;
  /** Output of the command, as it comes. */
  output: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

/** Runs the command; resolves to its exit status (128+n when killed by signal n). */
export async function runStep(root: string, step: StepRootfs, input: RunInput): Promise<number> {
  const id = stepContainerId(step.dir);
  const hostname = id.slice(-12);
  const etc = { hosts: join(step.dir, 'hosts'), hostname: join(step.dir, 'hostname'), resolvConf: join(step.dir, 'resolv.conf') };
  const hostNetwork = input.network.namespace === 'host';
  await writeEtcFiles(etc, { hostname, extraHosts: [], addresses: input.network.addresses, dns: input.network.dns, hostNetwork });
  const user = await resolveUser(step.rootfs, input.user || undefined);
  const capabilities = resolveCapabilities({ capAdd: [], capDrop: [], privileged: false });
  const profile = await seccompProfileFor(undefined);
  const seccomp = profile ? seccompForContainer(profile, { capabilities, kernelAbis: kernelSeccompArches() }) : undefined;
  const spec = buildSpec({
    rootfs: step.rootfs,
    process: {
      args: input.args,
      env: execEnv(input.env, hostname, false, []),
      cwd: input.cwd || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: false,
    },
    hostname: hostNetwork ? undefined : hostname,
    capabilities,
    ...(seccomp ? { seccomp } : {}),
    mounts: [],
    cgroupsPath: cgroupsPathFor(id),
    network: input.network.namespace,
    etcFiles: etc,
  });
  await replaceFile(join(step.dir, 'config.json'), JSON.stringify(spec));

  const runtime = new Runtime(chooseRuntime(), runtimeRoot(root));
  if (input.signal?.aborted) throw new HullError('INTERNAL', 'build interrupted');
  const child = spawn(runtime.path, ['--root', runtime.root, 'run', '--bundle', step.dir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => input.output(b));
  child.stderr.on('data', (b: Buffer) => input.output(b));
  const onAbort = (): void => {
    void runtime.kill(id, 'KILL', true).catch(() => undefined);
  };
  input.signal?.addEventListener('abort', onAbort);
  // An abort between the check above and the listener would otherwise be missed.
  if (input.signal?.aborted) onAbort();
  try {
    const status = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new HullError('INTERNAL', `cannot start the OCI runtime: ${e.message}`, { cause: e })));
      child.once('close', (code, sig) => resolve(code ?? 128 + (sig ? constants.signals[sig] : 0)));
    });
    if (input.signal?.aborted) throw new HullError('INTERNAL', 'build interrupted');
    return status;
  } finally {
    input.signal?.removeEventListener('abort', onAbort);
    await runtime.delete(id);
  }
}
