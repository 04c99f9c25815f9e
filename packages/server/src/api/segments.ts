/**
 * Segment routes: create, read, change a segment's state per environment (with `If-Match`), delete.
 */
import { type SegmentState, splitKey } from '@switchyard/core';
import type { FastifyInstance } from 'fastify';
import { authorize } from '../governance/access.js';
import { checkForeignReferences } from '../governance/references.js';
import { visibleSegment } from '../governance/visibility.js';
import { ETAG, empty, json, problem, problems, ref } from '../openapi/responses.js';
import { badRequest, HttpProblem } from '../problems.js';
import { changeContext, ifMatch, isProtected, protectedAmong, type RouteDeps } from './flags.js';

/** Whether a segment state puts anyone in: members or rules. */
const populated = (state: SegmentState) =>
  (state.included?.length ?? 0) > 0 || (state.excluded?.length ?? 0) > 0 || (state.rules?.length ?? 0) > 0;

type Params = { key: string; env: string };

export function segmentRoutes(app: FastifyInstance, { store }: RouteDeps): void {
  app.post(
    '/api/v1/segments',
    {
      schema: {
        tags: ['segments'],
        summary: 'Create a segment from its document (spec/schema/segment.schema.json)',
        body: { type: 'object' },
        response: {
          201: json(ref('SegmentView'), 'Created: the segment, with a state in every environment', {
            location: { type: 'string', description: 'the segment’s URL' },
          }),
          ...problems(400, 401, 403),
          409: problem(409, 'Conflict: the segment exists'),
          ...problems(413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const document = request.body as { key?: unknown; environments?: Record<string, unknown> };
      if (typeof document.key !== 'string' || !document.key.includes('/')) {
        throw badRequest('the body is a segment document with a "key" like "checkout/payments/beta-testers"');
      }
      const principal = request.principal!;
      const named = Object.keys(document.environments ?? {});
      authorize(principal, 'write', {
        namespace: splitKey(document.key).namespace,
        environments: named,
        protectedEnvironment: (await protectedAmong(store, named)).length > 0,
      });
      await checkForeignReferences(store, principal, document.key, document.environments ?? {});
      const view = await store.segments.create({ kind: 'segment', ...document }, changeContext(request));
      return reply
        .code(201)
        .header('location', `/api/v1/segments/${encodeURIComponent(document.key)}`)
        .send(visibleSegment(principal, view));
    },
  );

  app.get(
    '/api/v1/segments/:key',
    {
      schema: {
        tags: ['segments'],
        summary: 'A segment with its state in every environment',
        response: { 200: json(ref('SegmentView'), 'The segment'), ...problems(401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { key } = request.params as Params;
      authorize(request.principal!, 'read', { namespace: splitKey(key).namespace });
      const view = await store.segments.get(key);
      if (view === undefined) throw new HttpProblem(404, 'Not Found', `segment "${key}" does not exist`);
      return visibleSegment(request.principal!, view);
    },
  );

  app.put(
    '/api/v1/segments/:key/environments/:env',
    {
      schema: {
        tags: ['segments'],
        summary: 'Replace a segment’s state in one environment, at the version If-Match names',
        body: { type: 'object' },
        response: {
          200: json(ref('SegmentStateRecord'), 'The new state', ETAG),
          ...problems(400, 401, 403, 404),
          409: problem(409, 'Conflict: the state is not at the If-Match version (`currentVersion`)'),
          ...problems(413, 415, 422, 428, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key, env } = request.params as Params;
      authorize(request.principal!, 'write', {
        namespace: splitKey(key).namespace,
        environment: env,
        protectedEnvironment: await isProtected(store, env),
      });
      const expected = ifMatch(request, true)!;
      const { reason: _reason, ...state } = request.body as SegmentState & { reason?: string };
      await checkForeignReferences(store, request.principal!, key, { [env]: state });
      const record = await store.segments.updateState(key, env, expected, state, changeContext(request));
      return reply.header('etag', `"${record.version}"`).send(record);
    },
  );

  app.delete(
    '/api/v1/segments/:key',
    {
      schema: {
        tags: ['segments'],
        summary:
          'Delete a segment (conditions that name it then match nobody): a token without an environment scope, and a publisher when it has members or rules in a protected environment',
        response: { 204: empty('Deleted'), ...problems(401, 403, 404, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { key } = request.params as Params;
      const principal = request.principal!;
      const namespace = splitKey(key).namespace;
      // Deleting reaches every environment: members gone everywhere at once.
      authorize(principal, 'write', { namespace, everyEnvironment: true });
      const view = await store.segments.get(key);
      const inUse = Object.values(view?.states ?? {})
        .filter((record) => populated(record.state))
        .map((record) => record.environment);
      authorize(principal, 'write', {
        namespace,
        everyEnvironment: true,
        protectedEnvironment: (await protectedAmong(store, inUse)).length > 0,
      });
      await store.segments.delete(key, changeContext(request));
      return reply.code(204).send();
    },
  );
}
