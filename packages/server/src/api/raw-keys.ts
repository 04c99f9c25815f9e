/**
 * Keys with a raw "/" in an admin path. A flag or segment key holds "/" (`checkout/payments/x`), and the
 * routes take it as one encoded path segment (`/api/v1/flags/checkout%2Fpayments%2Fx`). A path that writes
 * the key raw is read here as the key plus one of the routes' suffixes and answered by that route, when only
 * one reading names a key (or only one names a flag or segment that exists and the token may read);
 * otherwise it is a 404 that says how to encode the key.
 */
import { names, namespaceOf } from '@switchyard/core';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { inNamespaces, type Principal } from '../governance/access.js';
import { HttpProblem } from '../problems.js';
import type { RouteDeps } from './flags.js';

type Kind = 'flags' | 'segments';

/** The suffixes after a key that each kind's routes take, by method. */
const SUFFIXES: Record<Kind, Partial<Record<HTTPMethods, RegExp[]>>> = {
  flags: {
    GET: [/^$/, /^\/environments\/[^/]+$/, /^\/environments\/[^/]+\/history$/, /^\/exposures$/],
    PATCH: [/^$/],
    DELETE: [/^$/],
    POST: [/^\/(archive|restore)$/, /^\/environments\/[^/]+\/[^/]+$/],
    PUT: [/^\/environments\/[^/]+$/],
  },
  segments: {
    GET: [/^$/],
    DELETE: [/^$/],
    PUT: [/^\/environments\/[^/]+$/],
  },
};

/** Request headers the route answering a raw path needs. */
const FORWARDED = [
  'authorization',
  'content-type',
  'if-match',
  'idempotency-key',
  'x-change-reason',
  'x-request-id',
  'x-api-key',
];
/** Response headers passed back. */
const RETURNED = ['content-type', 'etag', 'location', 'retry-after', 'www-authenticate'];

interface Reading {
  key: string;
  suffix: string;
}

/** Every way of reading `rest` as a key followed by a suffix the method takes. */
function readings(kind: Kind, method: HTTPMethods, rest: string): Reading[] {
  const suffixes = SUFFIXES[kind][method] ?? [];
  const found: Reading[] = [];
  for (let slash = rest.indexOf('/'); ; slash = rest.indexOf('/', slash + 1)) {
    const end = slash === -1 ? rest.length : slash;
    const key = rest.slice(0, end);
    const suffix = rest.slice(end);
    if (names.FLAG_KEY.regex.test(key) && suffixes.some((s) => s.test(suffix))) found.push({ key, suffix });
    if (slash === -1) break;
  }
  return found;
}

async function readable(store: FlagStore, kind: Kind, principal: Principal | undefined, key: string) {
  if (principal === undefined || !inNamespaces(principal, namespaceOf(key))) return false;
  return kind === 'flags'
    ? (await store.flags.meta(key)) !== undefined
    : (await store.segments.get(key)) !== undefined;
}

const hint = (kind: Kind) =>
  `a ${kind === 'flags' ? 'flag' : 'segment'} key holds "/": encode it as %2F in the path, e.g. /api/v1/${kind}/checkout%2Fpayments%2Fnew-card-form`;

export function rawKeyRoutes(app: FastifyInstance, { store }: RouteDeps): void {
  for (const kind of ['flags', 'segments'] as const) {
    const methods = Object.keys(SUFFIXES[kind]) as HTTPMethods[];
    app.route({
      method: methods,
      url: `/api/v1/${kind}/*`,
      schema: { hide: true },
      // The route it resolves to is injected, and decides access (its own role and targets).
      config: { access: 'viewer' },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const rest = (request.params as { '*': string })['*'];
        const method = request.method as HTTPMethods;
        let candidates = readings(kind, method, rest);
        if (candidates.length > 1) {
          const existing: Reading[] = [];
          for (const c of candidates)
            if (await readable(store, kind, request.principal, c.key)) existing.push(c);
          candidates = existing;
        }
        const [chosen] = candidates;
        if (chosen === undefined || candidates.length > 1) {
          throw new HttpProblem(
            404,
            'Not Found',
            `no route ${method} /api/v1/${kind}/${rest}; ${hint(kind)}`,
          );
        }
        const query = request.url.indexOf('?');
        const headers: Record<string, string> = {};
        for (const name of FORWARDED) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await app.inject({
          method,
          url: `/api/v1/${kind}/${encodeURIComponent(chosen.key)}${chosen.suffix}${query === -1 ? '' : request.url.slice(query)}`,
          headers,
          ...(request.body === undefined ? {} : { payload: JSON.stringify(request.body) }),
        });
        if (answer.statusCode === 404) {
          // Whatever the route did not find, the key may have been meant otherwise: say how to write it.
          let detail = 'not found';
          try {
            detail = (answer.json() as { detail?: string }).detail ?? detail;
          } catch {}
          throw new HttpProblem(404, 'Not Found', `${detail}; ${hint(kind)}`);
        }
        for (const name of RETURNED) {
          const value = answer.headers[name];
          if (value !== undefined) reply.header(name, value);
        }
        return reply.code(answer.statusCode).send(answer.rawPayload);
      },
    });
  }
}
