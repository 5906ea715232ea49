/**
 * Routing: the `/v1.xx` prefix and version checks, then a table of method + path patterns.
 * Each area (system, containers, exec, images, …) contributes its own Route list, so adding
 * networks or volumes is one more file.
 */
import { HullError } from '../util/errors.js';
import type { Route } from './http.js';

/** The newest API version hull speaks (the spec it follows) and the oldest it accepts. */
export const API_VERSION = '1.44';
export const MIN_API_VERSION = '1.24';

interface Compiled {
  method: string;
  re: RegExp;
  route: Route;
}

function compile(path: string): RegExp {
  const src = path
    .split('/')
    .map((seg) => (seg === '{name*}' ? '(.+?)' : seg.startsWith('{') ? '([^/]+)' : seg.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${src}$`);
}

function versionNumber(v: string): number {
  const [maj, min] = v.split('.').map(Number);
  return (maj ?? 0) * 1000 + (min ?? 0);
}

export class Router {
  private readonly routes: Compiled[] = [];

  add(routes: readonly Route[]): this {
    for (const r of routes) this.routes.push({ method: r.method, re: compile(r.path), route: r });
    return this;
  }

  /**
   * Split `/v1.44/containers/json` into the version and the path, and find the route. A path
   * that exists for another method is Docker's 405; one that does not exist is 404.
   */
  match(method: string, rawPath: string): { route: Route; params: string[]; version: string } {
    let path = rawPath;
    let version = API_VERSION;
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (m) {
      version = m[1]!;
      path = m[2]!;
      if (versionNumber(version) < versionNumber(MIN_API_VERSION)) {
        throw new HullError('INVALID_ARGUMENT', `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      }
      if (versionNumber(version) > versionNumber(API_VERSION)) {
        throw new HullError('INVALID_ARGUMENT', `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
      }
    }
    if (path.length > 1) path = path.replace(/\/$/, '');
    const effective = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
    let pathMatched = false;
    for (const want of effective) {
      for (const c of this.routes) {
        const mm = c.re.exec(path);
        if (!mm) continue;
        pathMatched = true;
        if (c.method !== want) continue;
        return { route: c.route, params: mm.slice(1).map((p) => decodeURIComponent(p)), version };
      }
    }
    if (pathMatched) throw new HullError('METHOD_NOT_ALLOWED', 'method not allowed');
    throw new HullError('NOT_FOUND', `page not found`);
  }
}
