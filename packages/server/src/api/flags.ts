/**
 * The flag routes of REST API v1: create, query, read, change metadata, archive, restore, delete; a
 * flag's state per environment with `If-Match`; the lifecycle actions; history.
 */
import { type EnvironmentState, pauseState, resumeState, splitKey } from '@switchyard/core';
import type { ChangeContext, FlagQuery, FlagStore, StateRecord } from '@switchyard/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize, type Principal } from '../governance/access.js';
import { checkForeignReferences } from '../governance/references.js';
import { visibleFlag, visibleMeta } from '../governance/visibility.js';
import { ETAG, empty, json, list, problem, problems, ref } from '../openapi/responses.js';
import { badRequest, HttpProblem } from '../problems.js';

export interface RouteDeps {
  store: FlagStore;
  clock: () => number;
}

type Params = { key: string; env: string; action: string };

/** Who changes, why, and under which idempotency key: from the token and the request's headers. */
export function changeContext(request: FastifyRequest): ChangeContext {
  const principal = request.principal!;
  const reason =
    request.headers['x-change-reason'] ?? (request.body as { reason?: unknown } | undefined)?.reason;
  const key = request.headers['idempotency-key'];
  return {
    actor: `${principal.name} (token ${principal.tokenId})`,
    ...(typeof reason === 'string' && reason !== '' ? { reason } : {}),
    ...(typeof key === 'string' && key !== '' ? { idempotencyKey: key } : {}),
  };
}

/** The version an `If-Match` header names: `"3"`, `W/"3"` or `3`. */
export function ifMatch(request: FastifyRequest, required: boolean): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) {
    if (required) {
      throw new HttpProblem(
        428,
        'Precondition Required',
        'send If-Match with the version you read (its ETag)',
      );
    }
    return undefined;
  }
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(String(header).trim());
  if (match === null) throw badRequest(`If-Match must be a version, like "3"; got ${JSON.stringify(header)}`);
  return Number(match[1]);
}

/** Whether only publishers and admins may change `environment`. */
export async function isProtected(store: FlagStore, environment: string): Promise<boolean> {
  return (await store.flags.environments()).find((e) => e.name === environment)?.protected === true;
}

/** The protected environments among `names`. */
export async function protectedAmong(store: FlagStore, names: readonly string[]): Promise<string[]> {
  const environments = await store.flags.environments();
  return names.filter((name) => environments.find((e) => e.name === name)?.protected === true);
}

/** Whether a state serves its on-path anywhere now or later: enabled, in a region, or by a scheduled step. */
const live = (state: EnvironmentState) =>
  state.enabled ||
  Object.values(state.regions ?? {}).some((region) => region.enabled === true) ||
  (state.schedule ?? []).some((step) => step.set.enabled === true);

/**
 * Authorises a change that reaches every environment of a flag at once (archive, restore, delete): a token
 * without an environment scope, and a publisher when the flag is live in a protected environment.
 */
async function authorizeEveryEnvironment(deps: RouteDeps, principal: Principal, key: string) {
  const { namespace } = splitKey(key);
  authorize(principal, 'write', { namespace, everyEnvironment: true });
  const view = await deps.store.flags.get(key);
  if (view === undefined) return; // the store answers 404
  const liveIn = Object.values(view.states)
    .filter((record) => live(record.state))
    .map((record) => record.environment);
  const liveProtected = await protectedAmong(deps.store, liveIn);
  authorize(principal, 'write', {
    namespace,
    everyEnvironment: true,
    protectedEnvironment: liveProtected.length > 0,
    ...(liveProtected.length > 0 ? { environment: liveProtected[0] } : {}),
  });
}

async function authorizeState(
  deps: RouteDeps,
  principal: Principal,
  key: string,
  environment: string,
  act: 'read' | 'write',
) {
  const { namespace } = splitKey(key);
  authorize(principal, act, {
    namespace,
    environment,
    protectedEnvironment: act === 'write' && (await isProtected(deps.store, environment)),
  });
}

/** The flag's state in `environment` at `version`: the current one, or one kept in its history. */
export async function stateAtVersion(
  store: FlagStore,
  key: string,
  environment: string,
  version: number,
): Promise<StateRecord | undefined> {
  const current = await store.flags.state(key, environment);
  if (current === undefined || current.version === version) return current;
  if (version > current.version) return undefined;
  const [older] = await store.flags.history(key, environment, { limit: 1, before: version + 1 });
  return older?.version === version ? older : undefined;
}

const ACTIONS: Record<string, (state: EnvironmentState, now: number) => EnvironmentState> = {
  enable: (s) => ({ ...s, enabled: true }),
  disable: (s) => ({ ...s, enabled: false }),
  pause: (s, now) => pauseState(s, now),
  resume: (s, now) => resumeState(s, now),
};

export function flagRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { store } = deps;
  const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;

  app.post(
    '/api/v1/flags',
    {
      schema: {
        tags: ['flags'],
        summary: 'Create a flag from its document (spec/schema/flag.schema.json)',
        body: { type: 'object' },
        response: {
          201: json(ref('FlagView'), 'Created: the flag, with a state in every environment', {
            location: { type: 'string', description: 'the flag’s URL' },
          }),
          ...problems(400, 401, 403),
          409: problem(409, 'Conflict: the flag exists, or the document names an unknown environment'),
          ...problems(413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const document = request.body as { key?: unknown; environments?: Record<string, unknown> };
      if (typeof document.key !== 'string' || !document.key.includes('/')) {
        throw badRequest('the body is a flag document with a "key" like "checkout/payments/new-card-form"');
      }
      const principal = request.principal!;
      const named = Object.keys(document.environments ?? {});
      const namespace = splitKey(document.key).namespace;
      // A new flag is served in every environment (its off variation where the document names none), so
      // only a token whose environment scope covers them all may create one.
      authorize(principal, 'write', {
        namespace,
        environments: named,
        everyEnvironment: true,
        protectedEnvironment: (await protectedAmong(store, named)).length > 0,
      });
      await checkForeignReferences(store, principal, document.key, document.environments ?? {});
      const view = await store.flags.create(document, changeContext(request));
      return reply.code(201).header('location', flagPath(view.meta.key)).send(visibleFlag(principal, view));
    },
  );

  app.get(
    '/api/v1/flags',
    {
      schema: {
        tags: ['flags'],
        querystring: {
          type: 'object',
          properties: {
            prefix: { type: 'string' },
            tag: { type: 'string' },
            text: { type: 'string' },
            enabledIn: { type: 'string', description: 'only flags enabled in this environment' },
            region: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            archived: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            cursor: { type: 'string' },
          },
          additionalProperties: false,
        },
        response: {
          200: json(
            list(ref('FlagMeta'), {
              cursor: { type: 'string', description: 'present when there may be more: pass it to get them' },
            }),
            'A page of flags (metadata only), in key order; a namespace-scoped token sees its namespaces only',
          ),
          ...problems(400, 401, 403),
          422: problem(422, 'Unprocessable Content: the cursor is not from a previous page'),
          503: problem(503),
        },
      },
    },
    async (request) => {
      const q = request.query as Record<string, string | number | boolean | undefined>;
      // Any reader may query; a token scoped to some namespaces gets only their flags (filtered by the query).
      const principal = request.principal!;
      authorize(principal, 'read', typeof q.enabledIn === 'string' ? { environment: q.enabledIn } : {});
      const query: FlagQuery = {
        namespaces: principal.namespaces,
        ...(typeof q.prefix === 'string' ? { prefix: q.prefix } : {}),
        ...(typeof q.tag === 'string' ? { tag: q.tag } : {}),
        ...(typeof q.text === 'string' ? { text: q.text } : {}),
        ...(typeof q.archived === 'boolean' ? { archived: q.archived } : {}),
        ...(typeof q.limit === 'number' ? { limit: q.limit } : {}),
        ...(typeof q.cursor === 'string' ? { cursor: q.cursor } : {}),
      };
      if (typeof q.enabledIn === 'string') {
        query.enabled = {
          environment: q.enabledIn,
          ...(typeof q.region === 'string' ? { region: q.region } : {}),
          ...(typeof q.at === 'string' ? { at: Date.parse(q.at) } : {}),
        };
      }
      const page = await store.queries.list(query);
      return {
        items: page.items.map((meta) => visibleMeta(principal, meta)),
        ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
      };
    },
  );

  app.get(
    '/api/v1/flags/:key',
    {
      schema: {
        tags: ['flags'],
        summary: 'A flag with its state in every environment',
        response: { 200: json(ref('FlagView'), 'The flag'), ...problems(401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { key } = request.params as Params;
      const principal = request.principal!;
      authorize(principal, 'read', { namespace: splitKey(key).namespace });
      const view = await store.flags.get(key);
      if (view === undefined) throw new HttpProblem(404, 'Not Found', `flag "${key}" does not exist`);
      return visibleFlag(principal, view);
    },
  );

  app.patch(
    '/api/v1/flags/:key',
    {
      schema: {
        tags: ['flags'],
        summary: 'Change a flag’s metadata: description, tags, owner, lifecycle, removeBy',
        body: { type: 'object' },
        response: {
          200: json(ref('FlagMeta'), 'The changed metadata', ETAG),
          ...problems(400, 401, 403, 404),
          409: problem(409, 'Conflict: not at the If-Match version, or the flag is archived'),
          ...problems(413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params as Params;
      authorize(request.principal!, 'write', { namespace: splitKey(key).namespace });
      const body = request.body as Record<string, unknown>;
      const editable = ['description', 'tags', 'owner', 'lifecycle', 'removeBy'];
      const unknown = Object.keys(body).filter((f) => !editable.includes(f) && f !== 'reason');
      if (unknown.length > 0) {
        throw badRequest(
          `${unknown.map((f) => `"${f}"`).join(', ')} cannot be changed; editable: ${editable.join(', ')}`,
        );
      }
      const current = await store.flags.meta(key);
      if (current === undefined) throw new HttpProblem(404, 'Not Found', `flag "${key}" does not exist`);
      const expected = ifMatch(request, false) ?? current.version;
      const patch = Object.fromEntries(Object.entries(body).filter(([f]) => f !== 'reason'));
      const meta = await store.flags.updateMeta(key, expected, patch, changeContext(request));
      return reply.header('etag', `"${meta.version}"`).send(visibleMeta(request.principal!, meta));
    },
  );

  app.delete(
    '/api/v1/flags/:key',
    {
      schema: {
        tags: ['flags'],
        summary: 'Delete an archived flag with its states and history (the ledger keeps its events)',
        response: {
          204: empty('Deleted'),
          ...problems(401, 403, 404),
          409: problem(409, 'Conflict: the flag is not archived'),
          ...problems(429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params as Params;
      await authorizeEveryEnvironment(deps, request.principal!, key);
      await store.flags.delete(key, changeContext(request));
      return reply.code(204).send();
    },
  );

  for (const action of ['archive', 'restore'] as const) {
    app.post(
      `/api/v1/flags/:key/${action}`,
      {
        schema: {
          tags: ['flags'],
          summary:
            action === 'archive' ? 'Archive a flag: it is no longer delivered' : 'Restore an archived flag',
          response: {
            200: json(ref('FlagMeta'), 'The flag’s metadata'),
            ...problems(401, 403, 404),
            409: problem(409, action === 'archive' ? 'Conflict: already archived' : 'Conflict: not archived'),
            ...problems(429, 503),
          },
        },
      },
      async (request) => {
        const { key } = request.params as Params;
        await authorizeEveryEnvironment(deps, request.principal!, key);
        return visibleMeta(request.principal!, await store.flags[action](key, changeContext(request)));
      },
    );
  }

  app.get(
    '/api/v1/flags/:key/environments/:env',
    {
      schema: {
        tags: ['states'],
        summary:
          'A flag’s state in one environment (or, with `version`, an earlier one), its version as ETag',
        querystring: {
          type: 'object',
          properties: {
            version: {
              type: 'integer',
              minimum: 1,
              description: 'serve this version, from the history when it is not the current one',
            },
          },
          additionalProperties: false,
        },
        response: {
          200: json(ref('StateRecord'), 'The state', ETAG),
          ...problems(400, 401, 403),
          404: problem(404, 'Not Found: no such flag, environment, or version (it may have been pruned)'),
          503: problem(503),
        },
      },
    },
    async (request, reply) => {
      const { key, env } = request.params as Params;
      await authorizeState(deps, request.principal!, key, env, 'read');
      const { version } = request.query as { version?: number };
      const state =
        version === undefined
          ? await store.flags.state(key, env)
          : await stateAtVersion(store, key, env, version);
      if (state === undefined) {
        throw new HttpProblem(
          404,
          'Not Found',
          version === undefined
            ? `flag "${key}" has no state in "${env}"`
            : `flag "${key}" has no version ${version} in "${env}" (it may have been pruned)`,
        );
      }
      return reply.header('etag', `"${state.version}"`).send(state);
    },
  );

  app.put(
    '/api/v1/flags/:key/environments/:env',
    {
      schema: {
        tags: ['states'],
        summary: 'Replace a flag’s state in one environment, at the version If-Match names',
        body: { type: 'object' },
        response: {
          200: json(ref('StateRecord'), 'The new state', ETAG),
          ...problems(400, 401, 403, 404),
          409: problem(409, 'Conflict: the state is not at the If-Match version (`currentVersion`)'),
          ...problems(413, 415, 422, 428, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key, env } = request.params as Params;
      await authorizeState(deps, request.principal!, key, env, 'write');
      const expectedVersion = ifMatch(request, true)!;
      const { reason: _reason, ...state } = request.body as EnvironmentState & { reason?: string };
      await checkForeignReferences(store, request.principal!, key, { [env]: state });
      const record = await store.flags.updateState(
        key,
        env,
        { expectedVersion, state },
        changeContext(request),
      );
      return reply.header('etag', `"${record.version}"`).send(record);
    },
  );

  app.post(
    '/api/v1/flags/:key/environments/:env/:action',
    {
      schema: {
        tags: ['states'],
        summary: 'enable, disable, pause, resume, or rollback (body `{ "toVersion": n }`); If-Match optional',
        response: {
          200: json(ref('StateRecord'), 'The new state', ETAG),
          ...problems(400, 401, 403),
          404: problem(404, 'Not Found: no such flag, state, version to roll back to, or action'),
          409: problem(409, 'Conflict: the state is not at the If-Match version (`currentVersion`)'),
          ...problems(413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { key, env, action } = request.params as Params;
      await authorizeState(deps, request.principal!, key, env, 'write');
      const expectedVersion = ifMatch(request, false);
      const context = changeContext(request);
      let record: StateRecord;
      if (action === 'rollback') {
        const toVersion = (request.body as { toVersion?: unknown } | undefined)?.toVersion;
        if (!Number.isInteger(toVersion))
          throw badRequest('rollback takes a body { "toVersion": <version> }');
        const old = await stateAtVersion(store, key, env, toVersion as number);
        if (old !== undefined)
          await checkForeignReferences(store, request.principal!, key, { [env]: old.state });
        record = await store.flags.rollback(key, env, toVersion as number, expectedVersion, context);
      } else {
        const transform = ACTIONS[action];
        if (transform === undefined) {
          throw new HttpProblem(
            404,
            'Not Found',
            `unknown action "${action}": enable, disable, pause, resume or rollback`,
          );
        }
        const now = deps.clock();
        record = await store.flags.updateState(
          key,
          env,
          {
            ...(expectedVersion === undefined ? {} : { expectedVersion }),
            state: (s) => transform(s, now),
            action: `state.${action}`,
          },
          context,
        );
      }
      return reply.header('etag', `"${record.version}"`).send(record);
    },
  );

  app.get(
    '/api/v1/flags/:key/environments/:env/history',
    {
      schema: {
        tags: ['states'],
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            before: { type: 'integer', minimum: 1 },
          },
          additionalProperties: false,
        },
        response: {
          200: json(list(ref('StateRecord')), 'Earlier states, newest first'),
          ...problems(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      const { key, env } = request.params as Params;
      await authorizeState(deps, request.principal!, key, env, 'read');
      const q = request.query as { limit?: number; before?: number };
      const items = await store.flags.history(key, env, {
        limit: q.limit ?? 50,
        ...(q.before === undefined ? {} : { before: q.before }),
      });
      return { items };
    },
  );
}
