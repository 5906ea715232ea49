/**
 * Docker's events, recorded in shared state by whichever process acts (the CLI, `hull serve`,
 * a monitor's exit command) so that `GET /events` in the server sees them all. Recording is
 * best effort: an event that cannot be written never fails the operation it describes.
 */
import type { Db } from '../state/db.js';
import { EventRecords } from '../state/events.js';

/** What every container event carries: Docker's image and name attributes, plus the labels. */
interface ContainerLike {
  id: string;
  name: string;
  doc: { Config: { Image: string; Labels?: Record<string, string> | null } };
}

export class EngineEvents {
  readonly records: EventRecords;

  constructor(db: Db) {
    this.records = new EventRecords(db);
  }

  container(c: ContainerLike, action: string, extra: Record<string, string> = {}): void {
    this.emit('container', action, c.id, { ...(c.doc.Config.Labels ?? {}), image: c.doc.Config.Image, name: c.name, ...extra });
  }

  image(id: string, action: string, name = id): void {
    this.emit('image', action, id, { name });
  }

  emit(type: string, action: string, actorId: string, attributes: Record<string, string>): void {
    try {
      this.records.append(type, action, actorId, attributes);
    } catch {
      // A locked or read-only database must not turn a finished `docker stop` into a failure.
    }
  }
}
