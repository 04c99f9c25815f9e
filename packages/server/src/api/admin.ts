/**
 * Routes for the ledger (events and their verification), environments and API tokens.
 */
import { SYSTEM_NAMESPACE } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { authorize, authorizeUnscopedAdmin, newToken, ROLES, SDK_ROLES } from '../governance/access.js';
import { checkTokenRequest, manages, type TokenRequest } from '../governance/token-rules.js';
import { visibleEvent } from '../governance/visibility.js';
import { empty, json, list, problem, problems, ref } from '../openapi/responses.js';
import { HttpProblem } from '../problems.js';
import { changeContext, type RouteDeps } from './flags.js';

const NAME = '^[a-z0-9][a-z0-9_-]*$';

export function adminRoutes(app: FastifyInstance, { store, clock }: RouteDeps): void {
  app.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['ledger'],
        querystring: {
          type: 'object',
          required: ['namespace'],
          properties: {
            namespace: { type: 'string', minLength: 1 },
            from: { type: 'integer', minimum: 1, description: 'the first sequence number' },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            flag: { type: 'string' },
            actor: { type: 'string' },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
          },
          additionalProperties: false,
        },
        response: {
          200: json(
            list(ref('Event'), {
              next: {
                type: 'integer',
                description: 'present when the page is full: the `from` of the next page',
              },
            }),
            'A page of a namespace’s ledger, in order, filtered by flag, actor and time',
          ),
          ...problems(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const q = request.query as Record<string, string | number | undefined>;
      const namespace = String(q.namespace);
      const principal = request.principal!;
      if (namespace === SYSTEM_NAMESPACE) authorizeUnscopedAdmin(principal, 'reading the system ledger');
      else authorize(principal, 'read', { namespace });
      const limit = Number(q.limit ?? 100);
      const events = await store.ledger.events(namespace, Number(q.from ?? 1), limit);
      const since = q.since === undefined ? -Infinity : Date.parse(String(q.since));
      const until = q.until === undefined ? Infinity : Date.parse(String(q.until));
      const items = events
        .filter(
          (e) =>
            (q.flag === undefined || e.flag === q.flag) &&
            (q.actor === undefined || e.actor.includes(String(q.actor))) &&
            Date.parse(e.time) >= since &&
            Date.parse(e.time) < until,
        )
        .map((e) => visibleEvent(principal, e));
      const last = events[events.length - 1];
      return { items, ...(events.length === limit && last !== undefined ? { next: last.seq + 1 } : {}) };
    },
  );

  app.get(
    '/api/v1/events/verify',
    {
      schema: {
        tags: ['ledger'],
        querystring: {
          type: 'object',
          required: ['namespace'],
          properties: { namespace: { type: 'string', minLength: 1 } },
          additionalProperties: false,
        },
        response: {
          200: json(ref('LedgerVerification'), 'Whether the namespace’s hash chain is intact'),
          ...problems(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const { namespace } = request.query as { namespace: string };
      if (namespace === SYSTEM_NAMESPACE) {
        authorizeUnscopedAdmin(request.principal!, 'reading the system ledger');
      } else authorize(request.principal!, 'read', { namespace });
      return store.ledger.verify(namespace);
    },
  );

  app.get(
    '/api/v1/environments',
    {
      schema: {
        tags: ['environments'],
        response: { 200: json(list(ref('Environment')), 'Every environment'), ...problems(401, 403, 503) },
      },
    },
    async (request) => {
      authorize(request.principal!, 'read');
      return { items: await store.flags.environments() };
    },
  );

  app.post(
    '/api/v1/environments',
    {
      schema: {
        tags: ['environments'],
        summary: 'Create an environment (an admin token without scopes)',
        body: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', pattern: NAME, maxLength: 32 },
            protected: { type: 'boolean' },
            description: { type: 'string', maxLength: 1000 },
          },
          additionalProperties: false,
        },
        response: {
          201: json(ref('Environment'), 'Created'),
          409: problem(409, 'Conflict: the environment exists (change it with PATCH)'),
          ...problems(400, 401, 403, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      authorizeUnscopedAdmin(request.principal!, 'creating an environment');
      const body = request.body as { name: string; protected?: boolean; description?: string };
      const saved = await store.flags.putEnvironment(
        {
          name: body.name,
          protected: body.protected === true,
          ...(body.description ? { description: body.description } : {}),
        },
        changeContext(request),
        'create',
      );
      return reply.code(201).send(saved);
    },
  );

  app.patch(
    '/api/v1/environments/:name',
    {
      schema: {
        tags: ['environments'],
        summary: 'Change an environment’s protection or description (an admin token without scopes)',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', pattern: NAME, maxLength: 32 } },
        },
        body: {
          type: 'object',
          properties: {
            protected: { type: 'boolean' },
            description: { type: 'string', maxLength: 1000 },
          },
          additionalProperties: false,
        },
        response: {
          200: json(ref('Environment'), 'Changed'),
          ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request) => {
      authorizeUnscopedAdmin(request.principal!, 'changing an environment');
      const { name } = request.params as { name: string };
      const body = request.body as { protected?: boolean; description?: string };
      const current = (await store.flags.environments()).find((e) => e.name === name);
      if (current === undefined)
        throw new HttpProblem(404, 'Not Found', `environment "${name}" does not exist`);
      const description = body.description ?? current.description;
      return store.flags.putEnvironment(
        {
          name,
          protected: body.protected ?? current.protected,
          ...(description ? { description } : {}),
        },
        changeContext(request),
        'update',
      );
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        body: {
          type: 'object',
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 128 },
            role: { type: 'string', enum: [...ROLES, ...SDK_ROLES] },
            namespaces: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
            environments: { type: 'array', items: { type: 'string', pattern: NAME }, maxItems: 100 },
            readSensitive: {
              type: 'boolean',
              description: 'may read decrypted sensitive values; only a token that has this right grants it',
            },
            expiresAt: { type: 'string', format: 'date-time', description: 'in the future' },
          },
          additionalProperties: false,
        },
        response: {
          201: json(ref('NewToken'), 'Created: the token, with its value shown this once'),
          400: problem(
            400,
            'Bad Request: an invalid body, a non-canonical or unknown scope, an expiry in the past, or an SDK key without exactly one environment',
          ),
          ...problems(401, 403, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as TokenRequest;
      await checkTokenRequest(store, request.principal!, body, clock());
      const { value, record } = newToken(body.name, body.role, body);
      // A retry with the same Idempotency-Key answers the first token and value (kept sealed).
      const saved = await store.tokens.create(
        { ...record, ...(body.expiresAt ? { expiresAt: body.expiresAt } : {}) },
        changeContext(request),
        value,
      );
      const { secretHash: _hash, value: shown, ...visible } = saved;
      // The only time the token's value is shown (or its retry's).
      return reply.code(201).send({ ...visible, token: shown ?? value });
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        response: {
          200: json(
            list(ref('Token')),
            'Every token within the caller’s scopes, revoked ones too, without secrets',
          ),
          ...problems(401, 403, 503),
        },
      },
    },
    async (request) => {
      const principal = request.principal!;
      authorize(principal, 'admin');
      const tokens = await store.tokens.list({ limit: 1000 });
      return {
        items: tokens
          .filter((t) => manages(principal, t))
          .map(({ secretHash: _hash, ...visible }) => visible),
      };
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token',
        response: { 204: empty('Revoked'), ...problems(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      authorize(principal, 'admin');
      const { id } = request.params as { id: string };
      const token = await store.tokens.get(id);
      // A token outside the caller's scopes is as absent as one that never existed.
      if (token === undefined || !manages(principal, token))
        throw new HttpProblem(404, 'Not Found', `token "${id}" does not exist`);
      await store.tokens.revoke(id, changeContext(request));
      return reply.code(204).send();
    },
  );
}
