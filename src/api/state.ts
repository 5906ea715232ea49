/**
 * What the server keeps in memory: exec instances (Docker keeps them in the daemon too; they
 * do not outlive it), the event tail, and live attachments (for resize).
 */
import type { AttachOptions, Attachment } from '../container/monitor.js';
import type { Engine } from '../engine/engine.js';
import type { EventRow } from '../state/events.js';
import type { ExecInstance } from './exec-store.js';

type Listener = (e: EventRow) => void;

/** An attach request for a container not running yet: `start` connects it before anything runs. */
export interface PendingAttach {
  options: AttachOptions;
  attached(a: Attachment): void;
  failed(e: unknown): void;
  /** Set when a start request took it off the queue: from then on only that start connects it. */
  taken?: boolean;
}

/**
 * Tails the shared events table (written by every hull process) and fans new rows out to
 * subscribers. Polls only while someone listens.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(
    private readonly engine: Engine,
    private readonly intervalMs = 100,
  ) {}

  subscribe(fn: Listener): () => void {
    if (this.listeners.size === 0) {
      this.seq = this.engine.events.records.lastSeq();
      this.timer = setInterval(() => this.poll(), this.intervalMs);
    }
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** The sequence number subscribers have been told up to. */
  get position(): number {
    return this.seq;
  }

  private poll(): void {
    let rows: EventRow[];
    try {
      rows = this.engine.events.records.after(this.seq);
    } catch {
      return; // busy database: next tick
    }
    for (const r of rows) {
      this.seq = r.seq;
      for (const l of [...this.listeners]) l(r);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.listeners.clear();
  }
}

export class ApiState {
  readonly execs = new Map<string, ExecInstance>();
  readonly events: EventHub;
  /** Live attachments per container, so that /resize reaches the terminal. */
  readonly attachments = new Map<string, Set<Attachment>>();

  private readonly pending = new Map<string, PendingAttach[]>();
  private readonly startWaiters = new Map<string, Set<() => void>>();

  constructor(readonly engine: Engine) {
    this.events = new EventHub(engine);
  }

  /** Park an attach until the container starts; returns a function that withdraws it. */
  addPendingAttach(id: string, p: PendingAttach): () => void {
    const list = this.pending.get(id) ?? [];
    list.push(p);
    this.pending.set(id, list);
    return () => {
      const l = this.pending.get(id);
      if (!l) return;
      const i = l.indexOf(p);
      if (i !== -1) l.splice(i, 1);
      if (l.length === 0) this.pending.delete(id);
    };
  }

  /** The oldest parked attach for `id`, removed from the queue. */
  takePendingAttach(id: string): PendingAttach | undefined {
    const l = this.pending.get(id);
    const p = l?.shift();
    if (l && l.length === 0) this.pending.delete(id);
    if (p) p.taken = true;
    return p;
  }

  /**
   * Resolves when this server has started `id` (notifyStarted), after `ms` at the latest, or
   * when `signal` aborts: a waiter that polls the state wakes up at once for a start here.
   */
  started(id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.startWaiters.get(id);
      if (!set) this.startWaiters.set(id, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.startWaiters.get(id) === waiters) this.startWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      waiters.add(done);
    });
  }

  notifyStarted(id: string): void {
    for (const done of [...(this.startWaiters.get(id) ?? [])]) done();
  }

  /**
   * Until the container's attached streams have ended (the monitor closes them once their output
   * is delivered), or `ms` passed. A container's streams end at its exit and its removal comes
   * after, as with dockerd: `docker run --rm` gets its EOF before its `wait` answer, instead of
   * after the removal's work (its exit waits for both).
   */
  async streamsEnded(id: string, ms: number): Promise<void> {
    const live = this.attachments.get(id);
    if (!live || live.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...live].map((a) => a.done)), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    // Their sockets' ends are shutdown(2)s libuv issues in its next poll phase: let one pass
    // before the caller's removal work, or the FIN waits for that work.
    await new Promise((r) => setImmediate(() => setImmediate(r)));
  }

  addAttachment(id: string, a: Attachment): () => void {
    let set = this.attachments.get(id);
    if (!set) this.attachments.set(id, (set = new Set()));
    set.add(a);
    return () => {
      set.delete(a);
      if (set.size === 0) this.attachments.delete(id);
    };
  }
}
