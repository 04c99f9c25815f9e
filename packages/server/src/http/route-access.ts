/**
 * Who may call a route, decided once per route when it is registered, from its ROUTED path (Fastify's
 * route url, e.g. `/api/v1/tokens/:id`), never from the raw request URL: `/%61pi/v1/tokens` is the
 * tokens route and is guarded as such. The server checks it in `onRequest`, before any body is read:
 *   - `public`: anyone (health, readiness, metrics, the API description, the landing page);
 *   - `delivery`: SDK and relay routes, which authenticate their keys themselves (relays mount them too);
 *   - a role: a control-plane token of at least that role. Handlers still authorise each target
 *     (namespaces, environments, protected environments) with `authorize`.
 * A route may declare `config: { access }` itself; a route with no rule here and none declared fails
 * the server's start, so that a new route is never public by accident.
 */
/** The role minimums a route alone decides (publisher depends on the target environment). */
export type MinimumRole = 'viewer' | 'editor' | 'admin';

export type Access = 'public' | 'delivery' | MinimumRole;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (see http/route-access.ts); set for every route when it is registered. */
    access?: Access;
  }
}

const PUBLIC = new Set(['/', '/healthz', '/readyz', '/metrics', '/openapi.json']);

/** The minimum a method on a control-plane route needs, where the route alone decides it. */
function controlPlane(method: string, url: string): MinimumRole {
  if (url === '/api/v1/tokens' || url.startsWith('/api/v1/tokens/')) return 'admin';
  const reads = method === 'GET' || method === 'HEAD';
  if (url === '/api/v1/environments' || url.startsWith('/api/v1/environments/')) {
    return reads ? 'viewer' : 'admin';
  }
  return reads ? 'viewer' : 'editor';
}

/** The access rule of a route, or `undefined` when none applies (the caller refuses to register it). */
export function accessOf(method: string, url: string): Access | undefined {
  if (PUBLIC.has(url) || url === '/docs' || url.startsWith('/docs/')) return 'public';
  if (url.startsWith('/api/')) return controlPlane(method, url);
  if (url.startsWith('/sdk/') || url.startsWith('/ofrep/') || url === '/events/v1') return 'delivery';
  return undefined;
}

/** What `authorize` checks for a role minimum (its `act`). */
export function actFor(role: MinimumRole): 'read' | 'write' | 'admin' {
  return role === 'admin' ? 'admin' : role === 'viewer' ? 'read' : 'write';
}
