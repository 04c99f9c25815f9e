/**
 * Routes for the ledger (events and their verification), environments and API tokens.
 */
import { SYSTEM_NAMESPACE } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import {
  authorize,
  isSdkRole,
  newToken,
  ROLES,
  type Role,
  SDK_ROLES,
  type SdkRole,
} from '../governance/access.js';
import { empty, json, list, problem, problems, ref } from '../openapi/responses.js';
import { HttpProblem } from '../problems.js';
import { changeContext, type RouteDeps } from './flags.js';

const NAME = '^[a-z0-9][a-z0-9_-]*$';

export function adminRoutes(app: FastifyInstance, { store }: RouteDeps): void {
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
      authorize(request.principal!, namespace === SYSTEM_NAMESPACE ? 'admin' : 'read', { namespace });
      const limit = Number(q.limit ?? 100);
      const events = await store.ledger.events(namespace, Number(q.from ?? 1), limit);
      const since = q.since === undefined ? -Infinity : Date.parse(String(q.since));
      const until = q.until === undefined ? Infinity : Date.parse(String(q.until));
      const items = events.filter(
        (e) =>
          (q.flag === undefined || e.flag === q.flag) &&
          (q.actor === undefined || e.actor.includes(String(q.actor))) &&
          Date.parse(e.time) >= since &&
          Date.parse(e.time) < until,
      );
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
      authorize(request.principal!, 'read', { namespace });
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
          201: json(ref('Environment'), 'Created, or changed when it existed'),
          ...problems(400, 401, 403, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      authorize(request.principal!, 'admin');
      const body = request.body as { name: string; protected?: boolean; description?: string };
      const saved = await store.flags.putEnvironment(
        {
          name: body.name,
          protected: body.protected === true,
          ...(body.description ? { description: body.description } : {}),
        },
        changeContext(request),
      );
      return reply.code(201).send(saved);
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
            expiresAt: { type: 'string', format: 'date-time' },
          },
          additionalProperties: false,
        },
        response: {
          201: json(ref('NewToken'), 'Created: the token, with its value shown this once'),
          400: problem(400, 'Bad Request: an invalid body, or an SDK key without exactly one environment'),
          ...problems(401, 403, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      authorize(request.principal!, 'admin');
      const body = request.body as {
        name: string;
        role: Role | SdkRole;
        namespaces?: string[];
        environments?: string[];
        expiresAt?: string;
      };
      if (isSdkRole(body.role) && body.environments?.length !== 1) {
        throw new HttpProblem(
          400,
          'Bad Request',
          `an ${body.role} key belongs to exactly one environment: give "environments": ["<name>"]`,
        );
      }
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
          200: json(list(ref('Token')), 'Every token, revoked ones too, without secrets'),
          ...problems(401, 403, 503),
        },
      },
    },
    async (request) => {
      authorize(request.principal!, 'admin');
      const tokens = await store.tokens.list({ limit: 1000 });
      return { items: tokens.map(({ secretHash: _hash, ...visible }) => visible) };
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
      authorize(request.principal!, 'admin');
      const { id } = request.params as { id: string };
      if ((await store.tokens.get(id)) === undefined)
        throw new HttpProblem(404, 'Not Found', `token "${id}" does not exist`);
      await store.tokens.revoke(id, changeContext(request));
      return reply.code(204).send();
    },
  );
}
