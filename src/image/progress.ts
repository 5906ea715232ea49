/**
 * Progress of long image operations, in the shape of Docker's JSON progress stream
 * (`{"status","id","progressDetail":{"current","total"}}`) so the CLI renderer and the
 * Engine API emit the same events.
 */
export interface ProgressEvent {
  /** Layer short id, or absent for whole-operation lines ("Digest: …"). */
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export type ProgressSink = (e: ProgressEvent) => void;

export const silentProgress: ProgressSink = () => undefined;
