/**
 * Work that must be done but that the command's caller does not wait for: it changes nothing
 * hull's state or the caller's answer depends on (e.g. the kernel deleting a veth pair whose
 * namespace and address are already gone). It comes in two forms: `run`, asynchronous, by
 * default started at once and not awaited (a CLI process still finishes it before it exits: a
 * pending operation keeps node running; `hull serve` carries on serving); and `runSync`, for a
 * host that answers its caller before it is done: the warm CLI worker, whose client gets the
 * exit status in the first of the worker's 'exit' listeners, runs it in a later one.
 */
export interface AfterReplyWork {
  run(): Promise<void>;
  runSync(): void;
}

type Scheduler = (work: AfterReplyWork) => void;

const background: Scheduler = (work) => void work.run().catch(() => undefined);
let scheduler: Scheduler = background;

/** Hand `work` (which handles its own errors) to the host's scheduler. */
export function afterReply(work: AfterReplyWork): void {
  scheduler(work);
}

/** For the host process: how afterReply's work is run from now on. */
export function setAfterReplyScheduler(s: Scheduler): void {
  scheduler = s;
}
