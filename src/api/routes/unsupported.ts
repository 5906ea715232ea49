/**
 * Endpoints whose engine side lives on other branches (build, networks, volumes) or that hull
 * does not have (swarm, plugins): a clear 501 instead of a 404 that clients read as "no such
 * object". Networks and volumes get their own route files when their engines land.
 */
import { HullError } from '../../util/errors.js';
import type { Route } from '../http.js';

function notImplemented(what: string): () => never {
  return () => {
    throw new HullError('NOT_IMPLEMENTED', `${what} is not supported by this hull server yet`);
  };
}

export const unsupportedRoutes: Route[] = [
  { method: 'POST', path: '/build', handler: notImplemented('image build (POST /build)') },
  { method: 'POST', path: '/build/prune', handler: notImplemented('build cache prune') },
  { method: 'GET', path: '/session', handler: notImplemented('BuildKit sessions') },
  { method: 'POST', path: '/session', handler: notImplemented('BuildKit sessions') },
  { method: 'GET', path: '/swarm', handler: () => {
    throw new HullError('NOT_IMPLEMENTED', 'This node is not a swarm manager.');
  } },
];
