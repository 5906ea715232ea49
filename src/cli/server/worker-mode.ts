/**
 * Set by the warm worker before it imports the CLI (ES modules evaluate their imports in
 * order), so cli/main.ts knows not to run process.argv itself.
 */
let warm = false;

export function markWarmWorker(): void {
  warm = true;
}

export function isWarmWorker(): boolean {
  return warm;
}

/**
 * Synchronous work a warm worker does as it ends, after its client has the exit status and its
 * after-reply work is done (util/after-reply.ts), in the order it was asked for: worker.ts runs
 * it from its one 'exit' listener, then ends the process at once (see there). The database's
 * hand-over goes here rather than into an 'exit' listener of its own, which that hard end would
 * skip.
 */
const exitWork: Array<() => void> = [];

export function atWorkerExit(fn: () => void): void {
  exitWork.push(fn);
}

/** Runs (and empties) the queue; one piece failing does not keep the others from running. */
export function runWorkerExitWork(): void {
  for (let fn = exitWork.shift(); fn; fn = exitWork.shift()) {
    try {
      fn();
    } catch {
      // the client has its answer; nothing here may change it
    }
  }
}
