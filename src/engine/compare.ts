/**
 * `hull compare`: one image run as a container and as a VM, measured on this host. Every
 * instance goes through the engine paths `hull run` uses (create, start attached, exited,
 * remove), so the numbers are what a user of `hull run` / `hull run --isolation vm` gets:
 * - time from create to the workload's first output and to its exit, over N runs each;
 * - idle host memory: Pss of the instance's monitor and everything below it (the container's
 *   processes; QEMU and virtiofsd for a VM) while the workload sleeps;
 * - the kernel the workload sees and the VM's accelerator;
 * - on-disk size: the image's unpacked layers, plus kernel and initramfs for the VM.
 * Every instance started is removed (`rm -f`) however the comparison ends, Ctrl-C included.
 */
import { release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type { Engine } from './engine.js';
import { memAvailableKiB, processTree, sumRollups } from '../util/pss.js';
import { median, spread } from '../util/samples.js';
import { HullError, isHullError } from '../util/errors.js';
import { vmFootprint } from './compare-vm.js';

export type CompareMode = 'container' | 'vm';
export const COMPARE_MODES: readonly CompareMode[] = ['container', 'vm'];

export interface CompareOptions {
  image: string;
  /** The workload; empty: the image's own command. */
  command: string[];
  runs: number;
  /** One line per step, for stderr. */
  progress: (line: string) => void;
  /** Aborting kills and removes whatever is running; compare() then rejects with the reason. */
  signal?: AbortSignal;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export interface ModeResult {
  mode: CompareMode;
  /** The image's unpacked layers, plus for a VM what it needs besides them. */
  disk: { totalBytes: number; imageBytes: number; kernelBytes: number; initramfsBytes: number };
  /** Milliseconds from create to the first byte of output; null when no run printed anything. */
  firstOutputMs: Summary | null;
  /** Milliseconds from create to the workload's exit. */
  exitMs: Summary;
  exitCodes: number[];
  idle: { pssBytes: number; processes: number };
  /** `uname -r` inside; null when the image has no sh/uname to ask with. */
  kernel: string | null;
  /** How the instance's CPU runs: natively (container), KVM or QEMU's TCG emulation. */
  accelerator: 'native' | 'kvm' | 'tcg';
  /** Idle instances like this one that fit in the host's MemAvailable. */
  density: number;
}

export interface CompareResult {
  image: string;
  imageId: string;
  command: string[];
  runs: number;
  host: { kernel: string; memAvailableBytes: number };
  modes: ModeResult[];
}

/** Long enough to measure; the instance is removed right after. */
const IDLE_COMMAND = ['sh', '-c', 'uname -r; exec sleep 100000'];
/** After the idle instance printed: lets lazily touched memory (QEMU's TCG cache, page faults) settle. */
const IDLE_SETTLE_MS = 3000;
const MAX_OUTPUT_KEPT = 4096;

function summarize(xs: number[]): Summary {
  const s = spread(xs);
  return { median: median(xs), min: s.min, max: s.max, samples: xs };
}

/**
 * The instance's stdout and stderr: notes when the first byte of either arrived, and keeps the
 * start of stdout (the idle instance's `uname -r`; an error on stderr is not a kernel name).
 */
class Output {
  at: number | undefined;
  text = '';
  readonly stdout = this.sink(true);
  readonly stderr = this.sink(false);

  private sink(keep: boolean): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        this.at ??= performance.now();
        if (keep && this.text.length < MAX_OUTPUT_KEPT) this.text += chunk.toString('utf8');
        done();
      },
    });
  }
}

interface Instance {
  id: string;
  /** The exit status once the instance has exited (undefined: the monitor connection was lost). */
  exit: Promise<number | undefined>;
  out: Output;
  /** performance.now() just before create. */
  t0: number;
}

class Comparison {
  /** Instances created and not yet removed: what an interruption must clean up. */
  private readonly live = new Set<string>();
  private readonly onAbort = (): void => {
    for (const id of this.live) void this.engine.containers.kill(id, 'KILL').catch(() => undefined);
  };

  constructor(
    private readonly engine: Engine,
    private readonly opts: CompareOptions,
  ) {
    opts.signal?.addEventListener('abort', this.onAbort);
  }

  private checkAborted(): void {
    if (this.opts.signal?.aborted) throw this.opts.signal.reason instanceof Error ? this.opts.signal.reason : new Error('interrupted');
  }

  /**
   * One instance, attached from before it starts, as `hull run` does; resolves when it has
   * exited. Its output goes to `out`, which notes when the first byte came.
   */
  private async instance(mode: CompareMode, command: string[], entrypoint?: string[]): Promise<Instance> {
    this.checkAborted();
    const t0 = performance.now();
    const c = await this.engine.containers.create({
      Config: { Image: this.opts.image, ...(command.length > 0 ? { Cmd: command } : {}), ...(entrypoint ? { Entrypoint: entrypoint } : {}) },
      HostConfig: { ...(mode === 'vm' ? { Isolation: 'vm' } : {}), AutoRemove: false },
    });
    this.live.add(c.id);
    this.checkAborted();
    const out = new Output();
    const { attachment } = await this.engine.containers.start(c.id, { stdout: out.stdout, stderr: out.stderr, tty: false, claimExit: true });
    this.checkAborted();
    const exit = attachment!.done.then(async (info) => {
      await this.engine.containers.exited(c.id);
      return info?.exitCode;
    });
    return { id: c.id, exit, out, t0 };
  }

  private async remove(id: string): Promise<void> {
    try {
      await this.engine.containers.remove(id, { force: true, volumes: true });
    } catch (e) {
      if (!isHullError(e, 'NOT_FOUND')) throw e;
    }
    this.live.delete(id);
  }

  /** Removes everything still there; used however the comparison ends. */
  async cleanup(): Promise<void> {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    for (const id of [...this.live]) await this.remove(id).catch((e: unknown) => this.opts.progress(`compare: could not remove ${id.slice(0, 12)}: ${(e as Error).message}`));
  }

  private async timedRuns(mode: CompareMode): Promise<{ first: number[]; exit: number[]; codes: number[] }> {
    const first: number[] = [];
    const exit: number[] = [];
    const codes: number[] = [];
    for (let i = 1; i <= this.opts.runs; i++) {
      const inst = await this.instance(mode, this.opts.command);
      const code = await inst.exit;
      const tExit = performance.now();
      this.checkAborted();
      if (code === undefined) throw new HullError('INTERNAL', `${mode} run ${i}: lost the connection to the instance before it exited`);
      await this.remove(inst.id);
      if (inst.out.at !== undefined) first.push(inst.out.at - inst.t0);
      exit.push(tExit - inst.t0);
      codes.push(code);
      this.opts.progress(`compare: ${mode} run ${i}/${this.opts.runs}: exit ${code} after ${((tExit - inst.t0) / 1000).toFixed(2)} s`);
    }
    return { first, exit, codes };
  }

  /** An instance that prints its kernel and sleeps: Pss of everything holding it, then removed. */
  private async idle(mode: CompareMode): Promise<{ kernel: string | null; pssBytes: number; processes: number }> {
    this.opts.progress(`compare: ${mode} idle instance (kernel and memory)`);
    const unknown = (): { kernel: null; pssBytes: number; processes: number } => {
      this.opts.progress(`compare: ${mode}: the image cannot run "${IDLE_COMMAND.join(' ')}" (no sh?): kernel and idle memory unknown`);
      return { kernel: null, pssBytes: 0, processes: 0 };
    };
    let inst: Instance;
    try {
      inst = await this.instance(mode, IDLE_COMMAND.slice(1), IDLE_COMMAND.slice(0, 1));
    } catch (e) {
      // runc refuses to start a missing sh (ContainerStartError, 127); the instance is removed at the end.
      if (this.opts.signal?.aborted || typeof (e as { exitStatus?: unknown }).exitStatus !== 'number') throw e;
      return unknown();
    }
    const printed = await Promise.race([
      (async () => {
        while (!inst.out.text.includes('\n')) {
          this.checkAborted();
          await new Promise((r) => setTimeout(r, 50));
        }
        return true;
      })(),
      inst.exit.then(() => false),
    ]);
    this.checkAborted();
    let kernel: string | null = null;
    let pss = { pss: 0, processes: 0 };
    if (printed) {
      kernel = inst.out.text.split('\n')[0]!.trim() || null;
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
      this.checkAborted();
      const monitorPid = this.engine.containers.get(inst.id).state.MonitorPid;
      pss = await sumRollups(processTree(monitorPid));
    }
    await this.remove(inst.id);
    await inst.exit.catch(() => undefined);
    return printed ? { kernel, pssBytes: pss.pss * 1024, processes: pss.processes } : unknown();
  }

  async run(): Promise<CompareResult> {
    const image = this.engine.images.get(this.opts.image);
    const imageBytes = image.row.size;
    const availKiB = memAvailableKiB();
    const modes: ModeResult[] = [];
    for (const mode of COMPARE_MODES) {
      const extra = mode === 'vm' ? await vmFootprint(this.engine.root, (l) => this.opts.progress(l)) : undefined;
      const runs = await this.timedRuns(mode);
      const idle = await this.idle(mode);
      const kernelBytes = extra?.kernelBytes ?? 0;
      const initramfsBytes = extra?.initramfsBytes ?? 0;
      modes.push({
        mode,
        disk: { totalBytes: imageBytes + kernelBytes + initramfsBytes, imageBytes, kernelBytes, initramfsBytes },
        firstOutputMs: runs.first.length > 0 ? summarize(runs.first) : null,
        exitMs: summarize(runs.exit),
        exitCodes: runs.codes,
        idle: { pssBytes: idle.pssBytes, processes: idle.processes },
        kernel: idle.kernel,
        accelerator: extra?.accelerator ?? 'native',
        density: idle.pssBytes > 0 ? Math.floor((availKiB * 1024) / idle.pssBytes) : 0,
      });
    }
    return { image: this.opts.image, imageId: image.id, command: this.opts.command, runs: this.opts.runs, host: { kernel: release(), memAvailableBytes: availKiB * 1024 }, modes };
  }
}

export const MAX_COMPARE_RUNS = 100;

/** Runs the comparison; whatever happens, no instance it started is left behind. */
export async function compare(engine: Engine, opts: CompareOptions): Promise<CompareResult> {
  if (!Number.isInteger(opts.runs) || opts.runs < 1 || opts.runs > MAX_COMPARE_RUNS) {
    throw new HullError('INVALID_ARGUMENT', `invalid argument "${opts.runs}" for "--runs" flag: must be an integer from 1 to ${MAX_COMPARE_RUNS}`);
  }
  const c = new Comparison(engine, opts);
  try {
    return await c.run();
  } finally {
    await c.cleanup();
  }
}
