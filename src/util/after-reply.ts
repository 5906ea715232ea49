/**
 * Work that must be done but that the command's caller does not wait for: it changes nothing
 * hull's state or the caller's answer depends on (e.g. the kernel deleting a veth pair whose
 * namespace and address are already gone). By default it runs at once. A host that answers its
 * caller before it is done (the warm CLI worker, whose client gets the exit status before the
 * worker's 'exit' listeners finish) installs a scheduler that runs it after the answer.
 */
type Scheduler = (work: () => void) => void;

const now: Scheduler = (work) => work();
let scheduler: Scheduler = now;

/** Run `work` (synchronous; its errors are its own to handle) now, or after the caller was answered. */
export function afterReply(work: () => void): void {
  scheduler(work);
}

/** For the host process: how afterReply's work is run from now on. */
export function setAfterReplyScheduler(s: Scheduler): void {
  scheduler = s;
}
