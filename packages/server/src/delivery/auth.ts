/**
 * Who may read what through delivery. SDK keys belong to one environment: `sdk-server` keys read
 * snapshots and streams and evaluate; `sdk-client` keys only evaluate (OFREP) and send exposures.
 * Control-plane tokens of role viewer or higher may read too. Namespace scopes apply to all.
 *
 * Principals are cached for a few seconds, so that evaluation traffic does not read the token store on
 * every request: a revoked key stops working within `ttlMs`.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { inEnvironments, isSdkRole, type Principal, ROLES } from '../governance/access.js';
import { badRequest, forbidden } from '../problems.js';
import { selectedBy } from './positions.js';

const MAX_CACHED = 10_000;

/**
 * An authenticator that may also answer without waiting: `known` gives the principal it holds for
 * the credentials, if any (so that hot routes skip a promise when they can); `fresh` asks again past any
 * cache (so that open streams of a revoked or expired key can be closed).
 */
export type Authenticator = ((authorization: string | undefined) => Promise<Principal>) & {
  known?: (authorization: string | undefined) => Principal | undefined;
  fresh?: (authorization: string | undefined) => Promise<Principal>;
};

/** Wraps an authenticator with a short-lived cache of successful answers. */
export function cachedAuthenticator(inner: Authenticator, clock: () => number, ttlMs = 5000): Authenticator {
  const cache = new Map<string, { principal: Principal; until: number }>();
  const known = (authorization: string | undefined) => {
    if (authorization === undefined) return undefined;
    const hit = cache.get(authorization);
    return hit !== undefined && hit.until > clock() ? hit.principal : undefined;
  };
  const authenticate: Authenticator = async (authorization) => {
    const hit = known(authorization);
    if (hit !== undefined) return hit;
    if (authorization === undefined) return inner(authorization);
    const now = clock();
    const principal = await inner(authorization);
    if (cache.size >= MAX_CACHED) {
      for (const [k, v] of cache) if (v.until <= now) cache.delete(k);
      if (cache.size >= MAX_CACHED) cache.clear();
    }
    cache.set(authorization, { principal, until: now + ttlMs });
    return principal;
  };
  authenticate.known = known;
  authenticate.fresh = inner.fresh ?? inner;
  return authenticate;
}

/** The credentials of a request: `Authorization: Bearer …`, or OFREP's `X-API-Key`. */
export function credentials(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) return header;
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? `Bearer ${apiKey}` : undefined;
}

const principals = new WeakMap<FastifyRequest, Principal>();

/**
 * A route's `onRequest` hook: authenticates the request before its body is read (so an unauthenticated
 * client never makes the server parse one, and a body limit applies only to callers with a key).
 */
export function authenticateFirst(authenticate: Authenticator): onRequestHookHandler {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    const given = credentials(request);
    // perf: a key seen in the last seconds is known without waiting on a promise.
    const known = authenticate.known?.(given);
    if (known !== undefined) {
      principals.set(request, known);
      return done();
    }
    authenticate(given).then(
      (principal) => {
        principals.set(request, principal);
        done();
      },
      (error: Error) => done(error),
    );
  };
}

/** The principal `authenticateFirst` found for the request. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  if (principal === undefined) throw new Error('a delivery route was mounted without authenticateFirst');
  return principal;
}

export type DeliveryAct = 'read' | 'evaluate';

/**
 * The environment the principal reads: `requested`, or the key's own. Refuses (403) a client-side key
 * reading flag data, and an environment or role outside the principal's grant.
 */
export function deliveryEnvironment(
  principal: Principal,
  act: DeliveryAct,
  requested: string | undefined,
): string {
  if (act === 'read' && principal.role === 'sdk-client') {
    throw forbidden(
      'a client-side SDK key may only evaluate through OFREP; use a server-side key (sdk-server)',
    );
  }
  const own = principal.environments.length === 1 ? principal.environments[0] : undefined;
  const environment = requested ?? own;
  if (environment === undefined) {
    throw badRequest('env: name the environment (this token is not tied to a single one)');
  }
  if (!inEnvironments(principal, environment)) {
    throw forbidden(
      `this ${isSdkRole(principal.role) ? 'SDK key' : 'token'} is for environment "${principal.environments.join('", "')}", not "${environment}"`,
    );
  }
  if (!isSdkRole(principal.role) && !(ROLES as readonly string[]).includes(principal.role)) {
    throw forbidden(`a ${principal.role} token may not read flags`);
  }
  return environment;
}

/** Whether the principal's namespace scopes cover a namespace. */
export function mayRead(principal: Principal, namespace: string): boolean {
  return selectedBy(principal.namespaces, namespace);
}

/**
 * The selectors a request may use: its own, each inside the principal's scopes (else 403), or the
 * principal's scopes when it names none.
 */
export function scopedSelectors(principal: Principal, requested: readonly string[]): string[] {
  if (requested.length === 0) return [...principal.namespaces];
  for (const selector of requested) {
    if (!mayRead(principal, selector)) {
      throw forbidden(
        `namespaces: "${selector}" is outside this key's namespaces (${principal.namespaces.join(', ')})`,
      );
    }
  }
  return [...requested];
}
