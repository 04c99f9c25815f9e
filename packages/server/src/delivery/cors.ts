/**
 * CORS for the routes browsers call: OFREP, the delivery endpoints and exposures. Only the origins an
 * operator allows get CORS headers (none by default); every other route, and every other origin, gets
 * none, and a preflight for them is a 404 as before. CORS only lets a browser read answers: every
 * request still needs its key.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Path prefixes of the routes browsers may call across origins. */
const BROWSER_ROUTES = ['/ofrep/v1/', '/sdk/v1/', '/events/v1'] as const;

const isBrowserRoute = (request: FastifyRequest) => {
  // A preflight matches the plugin's catch-all OPTIONS route: its path is the one asked for.
  const routed = request.routeOptions.url;
  const path = routed !== undefined && routed !== '*' ? routed : request.url.split('?', 1)[0]!;
  return BROWSER_ROUTES.some((prefix) => path.startsWith(prefix));
};

/** Adds CORS for `origins` (exact origins, e.g. `https://app.example.com`) to the browser routes. */
export function deliveryCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = [...origins];
  void app.register(cors, {
    hideOptionsRoute: true,
    delegator: (request, callback) =>
      callback(
        null,
        isBrowserRoute(request)
          ? {
              origin: allowed,
              methods: ['GET', 'POST'],
              allowedHeaders: [
                'authorization',
                'x-api-key',
                'content-type',
                'if-none-match',
                'last-event-id',
              ],
              exposedHeaders: ['etag', 'retry-after'],
              maxAge: 600,
            }
          : { origin: false },
      ),
  });
}
