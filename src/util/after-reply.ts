/**
 * Work that must be done but that the command's caller does not wait for: it changes nothing
 * hull's state or the caller's answer depends on (e.g. the kernel deleting a veth pair whose
 * namespace and address are already gone). One asynchronous function per piece, which handles
 * its own errors. By default it is started at once and not awaited (a CLI process still
 * finishes it before it exits: a pending operation keeps node running; `hull serve` carries on
 * serving, and on SIGTERM/SIGINT waits for it with `settleAfterReply` before it exits). The
 * warm CLI worker holds it back until its client has the exit status, then starts it and ends
 * once it is done (cli/server/worker.ts).
 *
 * No work may create anything under a state root (it may run after the root was deleted):
 * it only deletes, and checks that what it deletes is still there first.
 */
export type AfterReplyWork = () => Promise<void>;

type Scheduler = (work: AfterReplyWork) => void;

/** Background work started and not finished yet (for settleAfterReply). */
const pending = new Set<Promise<void>>();

/** The default: start at once, remember until done. */
export const backgroundScheduler: Scheduler = (work) => {
  const p = work().catch(() => undefined);
  pending.add(p);
  void p.finally(() => pending.delete(p));
};

let scheduler: Scheduler = backgroundScheduler;

/** Hand `work` (which handles its own errors) to the host's scheduler. */
export function afterReply(work: AfterReplyWork): void {
  scheduler(work);
}

/** For the host process: how afterReply's work is run from now on. */
export function setAfterReplyScheduler(s: Scheduler): void {
  scheduler = s;
}

/**
 * Wait until the background work started so far (and any it starts meanwhile) is done, or
 * `ms` passed. True when nothing is left. Each piece is bounded by itself (a monitor waited
 * for 2 s at most, a runtime delete by its timeout): the bound here is for a host that must
 * end anyway.
 */
export async function settleAfterReply(ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pending.size > 0) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...pending]), new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }
  return true;
}
