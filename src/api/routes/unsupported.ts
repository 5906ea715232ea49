/**
 * Endpoints hull does not have (BuildKit sessions, swarm): a clear 501 instead of a 404 that
 * clients read as "no such object".
 */
import { HullError } from '../../util/errors.js';
import type { Route } from '../http.js';

function notImplemented(what: string): () => never {
  return () => {
    throw new HullError('NOT_IMPLEMENTED', `${what} is not supported by this hull server yet`);
  };
}

export const unsupportedRoutes: Route[] = [
  { method: 'GET', path: '/session', handler: notImplemented('BuildKit sessions') },
  { method: 'POST', path: '/session', handler: notImplemented('BuildKit sessions') },
  { method: 'GET', path: '/swarm', handler: () => {
    throw new HullError('NOT_IMPLEMENTED', 'This node is not a swarm manager.');
  } },
];
