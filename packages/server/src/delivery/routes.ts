/**
 * The delivery endpoints SDKs and relays read (spec/protocol.md): the snapshot, the stream, and who a
 * key is (so a relay can check the keys its SDKs send). The server and the relay both mount these.
 */
import { Readable } from 'node:stream';
import { names } from '@switchyard/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Principal, readsSensitive } from '../governance/access.js';
import type { RateLimiter } from '../governance/rate-limits.js';
import { empty, json, media, problem, problems, serializeAsIs } from '../openapi/responses.js';
import { HttpProblem } from '../problems.js';
import {
  type Authenticator,
  authenticateFirst,
  credentials,
  type DeliveryAct,
  deliveryEnvironment,
  mayRead,
  principalOf,
  scopedSelectors,
} from './auth.js';
import { etagMatches, etagOf, snapshotHeader } from './frames.js';
import type { DeliveryHub } from './hub.js';
import { decodePositions, parseSelectors } from './positions.js';
import type { Streams } from './stream.js';
import type { NamespaceView } from './view.js';

export interface DeliveryDeps {
  hub: DeliveryHub;
  streams: Streams;
  authenticate: Authenticator;
  clock: () => number;
  /** Limits OFREP evaluations per key (429 with Retry-After beyond). */
  limiter?: RateLimiter;
}

const selection = {
  env: {
    type: 'string',
    pattern: names.ENVIRONMENT.pattern,
    maxLength: names.ENVIRONMENT.maxLength,
    description: 'the environment; defaults to the SDK key’s',
  },
  namespaces: {
    type: 'string',
    maxLength: 65536,
    description: 'comma-separated namespaces or namespace prefixes; all the key may read when absent',
  },
} as const;

export const SNAPSHOT_TYPE = 'application/vnd.switchyard.snapshot; charset=utf-8';

const SNAPSHOT_ETAG = {
  etag: { type: 'string', description: 'the positions the data is at; send it as If-None-Match' },
};

const WHOAMI = {
  type: 'object',
  required: ['id', 'name', 'role', 'environments', 'namespaces'],
  properties: {
    id: { type: 'string', description: 'the token’s id' },
    name: { type: 'string' },
    role: { type: 'string', description: 'sdk-server, sdk-client, or a control-plane role' },
    environments: { type: 'array', items: { type: 'string' }, description: 'empty for all' },
    namespaces: { type: 'array', items: { type: 'string' }, description: 'prefixes; empty for all' },
    readSensitive: {
      type: 'boolean',
      description: 'whether it receives sensitive values (sdk-server keys, and tokens given the right)',
    },
  },
  additionalProperties: false,
};

/**
 * The selectors of `?namespaces=` (within the principal's scopes, else 403) and the loaded views of an
 * environment's namespaces they select that the principal may read.
 */
export async function viewsFor(
  deps: DeliveryDeps,
  principal: Principal,
  environment: string,
  namespaces: string | undefined,
): Promise<{ selectors: string[]; views: NamespaceView[] }> {
  const selectors = scopedSelectors(principal, parseSelectors(namespaces));
  const views = (await deps.hub.select(environment, selectors)).filter((v) =>
    mayRead(principal, v.namespace),
  );
  return { selectors, views };
}

function unknownEnvironment(environment: string): HttpProblem {
  return new HttpProblem(404, 'Not Found', `environment "${environment}" does not exist`);
}

/**
 * The environment the principal reads or evaluates (see `deliveryEnvironment`), which must exist:
 * 404 otherwise, never an empty answer. Without a promise when the environment is known to exist.
 */
export function existingEnvironment(
  deps: DeliveryDeps,
  principal: Principal,
  act: DeliveryAct,
  requested: string | undefined,
): string | Promise<string> {
  const environment = deliveryEnvironment(principal, act, requested);
  const exists = deps.hub.environmentExists(environment);
  if (exists === true) return environment;
  if (exists === false) throw unknownEnvironment(environment);
  return exists.then((found) => {
    if (!found) throw unknownEnvironment(environment);
    return environment;
  });
}

/** The principal, environment and loaded views a delivery request is about. */
async function selectViews(
  deps: DeliveryDeps,
  request: FastifyRequest,
  query: { env?: string; namespaces?: string },
): Promise<{ principal: Principal; environment: string; selectors: string[]; views: NamespaceView[] }> {
  const principal = principalOf(request);
  const environment = await existingEnvironment(deps, principal, 'read', query.env);
  return { principal, environment, ...(await viewsFor(deps, principal, environment, query.namespaces)) };
}

interface StreamRequest {
  env?: string;
  namespaces?: string;
  since?: string;
}

export function deliveryRoutes(app: FastifyInstance, deps: DeliveryDeps): void {
  // Every delivery route authenticates before anything else, its body included.
  const onRequest = authenticateFirst(deps.authenticate);

  /** Serves a stream: from `since` (or Last-Event-ID), or opening with a snapshot. */
  const openStream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    asked: StreamRequest,
    sinceWhere: string,
  ): Promise<void> => {
    const { principal, environment, selectors, views } = await selectViews(deps, request, asked);
    const lastEventId = request.headers['last-event-id'];
    const since =
      asked.since !== undefined
        ? decodePositions(asked.since, sinceWhere)
        : typeof lastEventId === 'string'
          ? decodePositions(lastEventId, 'Last-Event-ID')
          : undefined;
    // No await between admitting the stream and opening it: the caps hold.
    deps.streams.admit(principal.tokenId);
    reply.hijack();
    await deps.streams.open({
      response: reply.raw,
      tokenId: principal.tokenId,
      credentials: credentials(request),
      environment,
      selectors,
      scopeKey: principal.namespaces.join(','),
      mayRead: (namespace) => mayRead(principal, namespace),
      withSensitive: readsSensitive(principal),
      views,
      since,
    });
  };

  app.get(
    '/sdk/v1/snapshot',
    {
      onRequest,
      logLevel: 'warn',
      schema: {
        tags: ['delivery'],
        summary: 'A snapshot of an environment’s flags and segments in the selected namespaces',
        querystring: { type: 'object', properties: selection, additionalProperties: false },
        response: {
          200: media(
            'application/vnd.switchyard.snapshot',
            { type: 'string' },
            'The snapshot: a header line, then one line per flag (`F`) and segment (`S`); see spec/protocol.md, "The snapshot"',
            SNAPSHOT_ETAG,
          ),
          304: empty('Not Modified: If-None-Match names the current ETag', SNAPSHOT_ETAG),
          400: problem(400, 'Bad Request: an invalid query, or no `env` for a token of several environments'),
          403: problem(403, 'Forbidden: an sdk-client key, or an environment or namespace outside the key’s'),
          404: problem(404, 'Not Found: no such environment'),
          ...problems(401, 503),
        },
      },
      serializerCompiler: serializeAsIs,
    },
    async (request, reply) => {
      const { principal, environment, views } = await selectViews(
        deps,
        request,
        request.query as { env?: string },
      );
      const withSensitive = readsSensitive(principal);
      // The same positions hold other bytes for a reader not allowed sensitive values.
      const etag = etagOf(environment, views, withSensitive ? '' : 'without sensitive');
      reply.header('etag', etag).header('cache-control', 'no-cache');
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
      // perf: the body is the views' encoded chunks as they are, sent without joining them.
      const parts: Buffer[] = [
        Buffer.from(`${snapshotHeader(environment, views, deps.clock(), { complete: true })}\n`, 'utf8'),
      ];
      let length = parts[0]!.length;
      for (const view of views) {
        for (const chunk of view.body(withSensitive)) {
          if (chunk.length === 0) continue;
          parts.push(chunk);
          length += chunk.length;
        }
      }
      return reply
        .type(SNAPSHOT_TYPE)
        .header('content-length', String(length))
        .send(Readable.from(parts, { objectMode: false }));
    },
  );

  app.get(
    '/sdk/v1/stream',
    {
      onRequest,
      // A stream has no headers to give without its body: HEAD is no route here (404), not a hung request.
      exposeHeadRoute: false,
      schema: {
        tags: ['delivery'],
        summary: 'Server-Sent Events: a snapshot or a resume, then ordered patches and heartbeats',
        querystring: {
          type: 'object',
          properties: {
            ...selection,
            since: { type: 'string', maxLength: 1 << 20, description: 'the position vector to resume from' },
          },
          additionalProperties: false,
        },
        response: {
          200: media(
            'text/event-stream',
            { type: 'string' },
            'Server-Sent Events: a `snapshot` (or the `patch`es of a resume), then `patch` and `heartbeat` events, their ids position vectors; see spec/protocol.md, "The stream"',
          ),
          400: problem(400, 'Bad Request: an invalid query, or a malformed `since` or Last-Event-ID'),
          403: problem(403, 'Forbidden: an sdk-client key, or an environment or namespace outside the key’s'),
          404: problem(404, 'Not Found: no such environment'),
          429: problem(429, 'Too Many Requests: the key has as many streams open as one key may'),
          503: problem(
            503,
            'Service Unavailable: the server has as many streams open as it serves, or the store cannot be reached',
          ),
          401: problem(401),
        },
      },
      serializerCompiler: serializeAsIs,
    },
    (request, reply) => openStream(request, reply, request.query as StreamRequest, 'since'),
  );

  // The same stream, its request in the body: positions of hundreds of namespaces do not fit in a URL.
  app.post(
    '/sdk/v1/stream',
    {
      onRequest,
      // Applies once the key is known (onRequest runs before the body is read).
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        tags: ['delivery'],
        summary: 'The stream, asked for with a JSON body (for position vectors too long for a URL)',
        body: {
          type: 'object',
          properties: {
            ...selection,
            since: {
              type: 'string',
              maxLength: 4 * 1024 * 1024,
              description: 'the position vector to resume from',
            },
          },
          additionalProperties: false,
        },
        response: {
          400: problem(400, 'Bad Request: an invalid body, or a malformed `since` or Last-Event-ID'),
          403: problem(403, 'Forbidden: an sdk-client key, or an environment or namespace outside the key’s'),
          404: problem(404, 'Not Found: no such environment'),
          413: problem(413, 'Content Too Large: the body is over 4 MiB'),
          429: problem(429, 'Too Many Requests: the key has as many streams open as one key may'),
          503: problem(503, 'Service Unavailable: the server has as many streams open as it serves'),
          ...problems(401),
        },
      },
      serializerCompiler: serializeAsIs,
    },
    (request, reply) => openStream(request, reply, (request.body ?? {}) as StreamRequest, 'body.since'),
  );

  app.get(
    '/sdk/v1/whoami',
    {
      // Relays check their SDKs' keys with it: answered past the cache, so that revocation is not
      // delayed by this cache and a relay's one after the other.
      onRequest: authenticateFirst(deps.authenticate.fresh ?? deps.authenticate),
      logLevel: 'warn',
      schema: {
        tags: ['delivery'],
        summary: 'What the calling key may read: its role, environments and namespaces',
        response: { 200: json(WHOAMI, 'The key'), ...problems(401, 503) },
      },
      serializerCompiler: serializeAsIs,
    },
    async (request) => {
      const principal = principalOf(request);
      return {
        id: principal.tokenId,
        name: principal.name,
        role: principal.role,
        environments: principal.environments,
        namespaces: principal.namespaces,
        readSensitive: readsSensitive(principal),
      };
    },
  );
}
