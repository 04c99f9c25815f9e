/**
 * The OpenAPI document against the server it describes: every route documents what it answers, success
 * and problems, and real answers of a real server validate against the document (Ajv, JSON Schema
 * 2020-12 as OpenAPI 3.1 uses it), so that the two cannot drift apart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { bootstrap } from './governance/bootstrap.js';
import { type Answer, callApi, listenOnLoopback, temporaryStore } from './testing.js';

// ajv-formats ships CommonJS whose default export is the plugin function itself.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;

interface Response {
  description: string;
  content?: Record<string, { schema?: unknown }>;
}
interface Operation {
  responses: Record<string, Response>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let base: string;
let admin: string;
let sdkKey: string;
let doc: OpenApi;
let ajv: Ajv2020;
const validators = new Map<string, ValidateFunction>();

const call = (
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> => callApi(base, method, path, options);

/** A JSON pointer into the document, as a URI fragment. */
const pointer = (...segments: string[]) =>
  `#/${segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')}`;

/**
 * Asserts that `route` documents the answer's status, with no body for 204 and 304, else with a schema
 * for the answer's content type, and that the body validates against it.
 */
function assertDocumented(method: string, route: string, answer: Answer): void {
  const where = `${method} ${route} → ${answer.status}`;
  const documented = doc.paths[route]?.[method.toLowerCase()]?.responses[String(answer.status)];
  assert.ok(documented, `${where} is not documented`);
  if (answer.status === 204 || answer.status === 304) {
    assert.equal(documented.content, undefined, `${where} documents a body`);
    assert.equal(answer.text, '');
    return;
  }
  assert.ok(documented.content?.[answer.type]?.schema, `${where} documents no ${answer.type} body`);
  const ref = `openapi.json${pointer('paths', route, method.toLowerCase(), 'responses', String(answer.status), 'content', answer.type, 'schema')}`;
  let validate = validators.get(ref);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: ref });
    validators.set(ref, validate);
  }
  assert.ok(
    validate(answer.body),
    `${where}: the body does not match the document:\n${(validate.errors ?? [])
      .map((e) => `  ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
      .join('\n')}\n${answer.text.slice(0, 2000)}`,
  );
}

const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;

/** Calls the server and checks the answer against the document; `route` is the documented path. */
async function documentedCall(
  method: string,
  route: string,
  path: string,
  options: Parameters<typeof call>[2] = {},
): Promise<Answer> {
  const answer = await call(method, path, { token: admin, ...options });
  assertDocumented(method, route, answer);
  return answer;
}

before(async () => {
  temp = temporaryStore();
  admin = (await bootstrap(temp.store)).adminToken!;
  app = await buildServer({ store: temp.store, exposures: { flushIntervalMs: 20 } });
  // A route whose schema leaves out a field and requires one that is absent: what it sends is unchanged.
  app.get(
    '/test/partly-documented',
    {
      config: { access: 'public' },
      schema: {
        hide: true,
        response: {
          200: {
            type: 'object',
            required: ['missing'],
            properties: { id: { type: 'string' } },
            additionalProperties: false,
          },
        },
      },
    },
    async () => ({ id: 7, extra: { nested: [1, 'two'] } }),
  );
  base = await listenOnLoopback(app);
  doc = (await call('GET', '/openapi.json')).body as OpenApi;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi.json');
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('the OpenAPI document', () => {
  it('documents a success and the problems of every /api/v1 route', () => {
    const routes = Object.entries(doc.paths).filter(([path]) => path.startsWith('/api/v1/'));
    assert.ok(routes.length >= 15, 'the /api/v1 routes are in the document');
    for (const [path, operations] of routes) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(operation.responses);
        const successes = statuses.filter((s) => /^2\d\d$/.test(s));
        assert.ok(successes.length > 0, `${where} documents no success`);
        for (const status of successes) {
          const body = operation.responses[status]!.content?.['application/json']?.schema;
          if (status === '204') assert.equal(body, undefined, `${where} → 204 documents a body`);
          else assert.ok(body, `${where} → ${status} documents no JSON body`);
        }
        const problems = statuses.filter(
          (s) =>
            (operation.responses[s]!.content?.['application/problem+json']?.schema as { $ref?: string })
              ?.$ref === '#/components/schemas/Problem',
        );
        assert.ok(problems.includes('401'), `${where} documents no 401 problem`);
        assert.ok(problems.includes('403'), `${where} documents no 403 problem`);
        for (const status of statuses.filter((s) => /^[45]\d\d$/.test(s) && !problems.includes(s))) {
          assert.fail(`${where} → ${status} is not a problem+json response`);
        }
      }
    }
  });

  it('documents delivery, exposures and health with their content types', () => {
    const content = (path: string, method: string, status: string) =>
      Object.keys(doc.paths[path]?.[method]?.responses[status]?.content ?? {});
    assert.deepEqual(content('/sdk/v1/snapshot', 'get', '200'), ['application/vnd.switchyard.snapshot']);
    assert.deepEqual(content('/sdk/v1/snapshot', 'get', '304'), []);
    assert.deepEqual(content('/sdk/v1/stream', 'get', '200'), ['text/event-stream']);
    assert.match(doc.paths['/sdk/v1/stream']!.get!.responses['200']!.description, /spec\/protocol\.md/);
    assert.deepEqual(content('/sdk/v1/whoami', 'get', '200'), ['application/json']);
    assert.deepEqual(content('/ofrep/v1/evaluate/flags/{*}', 'post', '404'), ['application/json']);
    assert.deepEqual(content('/ofrep/v1/evaluate/flags', 'post', '304'), []);
    assert.deepEqual(content('/events/v1', 'post', '202'), ['application/json']);
    assert.deepEqual(content('/healthz', 'get', '200'), ['application/json']);
    assert.deepEqual(content('/readyz', 'get', '503'), ['application/json']);
    for (const path of ['/sdk/v1/snapshot', '/sdk/v1/stream', '/sdk/v1/whoami', '/events/v1']) {
      const method = path === '/events/v1' ? 'post' : 'get';
      assert.deepEqual(content(path, method, '401'), ['application/problem+json'], path);
    }
  });

  it('registers the shared schemas once, as components, each of which compiles', () => {
    for (const name of [
      'Problem',
      'FlagMeta',
      'StateRecord',
      'FlagView',
      'EnvironmentState',
      'Event',
      'Token',
    ]) {
      assert.ok(doc.components.schemas[name], `components.schemas.${name}`);
    }
    for (const name of Object.keys(doc.components.schemas)) {
      ajv.compile({ $ref: `openapi.json${pointer('components', 'schemas', name)}` });
    }
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          for (const type of Object.keys(response.content ?? {})) {
            ajv.compile({
              $ref: `openapi.json${pointer('paths', path, method, 'responses', status, 'content', type, 'schema')}`,
            });
          }
        }
      }
    }
  });

  it('never reshapes a body: response schemas document, they do not serialize', async () => {
    const answer = await call('GET', '/test/partly-documented');
    assert.equal(answer.status, 200);
    assert.equal(answer.text, '{"id":7,"extra":{"nested":[1,"two"]}}');
  });
});

describe('real answers match the document', () => {
  const key = 'team/docs/checkout';
  const json = 'team/docs/layout';

  it('flags: create, get, list, change, archive, restore, delete', async () => {
    const created = await documentedCall('POST', '/api/v1/flags', '/api/v1/flags', {
      body: {
        key,
        type: 'string',
        description: 'the checkout flow',
        tags: ['checkout', 'docs'],
        owner: 'team-docs',
        lifecycle: 'temporary',
        removeBy: '2030-01-31',
        variations: { old: 'v1', new: 'v2', off: 'none' },
        environments: {
          development: {
            enabled: true,
            offVariation: 'off',
            targets: { new: ['user-1', 'user-2'] },
            rules: [
              {
                id: 'staff',
                description: 'our own people',
                when: [{ attribute: 'email', op: 'endsWith', values: ['@example.com'] }],
                window: { from: '2025-01-01T00:00:00Z' },
                serve: 'new',
              },
            ],
            default: { rollout: { old: 90, new: 10 }, bucketBy: 'accountId' },
            regions: { eu: { enabled: false } },
            schedule: [{ at: '2031-01-01T00:00:00Z', set: { default: 'new' } }],
          },
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    await documentedCall('POST', '/api/v1/flags', '/api/v1/flags', {
      body: {
        key: json,
        type: 'json',
        variations: { wide: { columns: 3, sidebar: null }, narrow: { columns: [1] } },
        environments: {},
      },
    });
    assert.equal(
      (await documentedCall('POST', '/api/v1/flags', '/api/v1/flags', { body: { key } })).status,
      422,
    );
    assert.equal(
      (await documentedCall('POST', '/api/v1/flags', '/api/v1/flags', { body: created.body.meta })).status,
      422,
    );
    const got = await documentedCall('GET', '/api/v1/flags/{key}', flagPath(json));
    assert.deepEqual(got.body.meta.variations.wide, { columns: 3, sidebar: null });
    assert.equal(
      (await documentedCall('GET', '/api/v1/flags/{key}', flagPath('team/docs/nope'))).status,
      404,
    );
    const listed = await documentedCall('GET', '/api/v1/flags', '/api/v1/flags?prefix=team/docs/&limit=1');
    assert.equal(listed.body.items.length, 1);
    assert.ok(listed.body.cursor);
    await documentedCall('GET', '/api/v1/flags', `/api/v1/flags?cursor=${listed.body.cursor}&prefix=team/`);
    assert.equal((await documentedCall('GET', '/api/v1/flags', '/api/v1/flags?limit=0')).status, 400);
    assert.equal((await documentedCall('GET', '/api/v1/flags', '/api/v1/flags', { token: '' })).status, 401);
    const patched = await documentedCall('PATCH', '/api/v1/flags/{key}', flagPath(json), {
      body: { description: 'columns', tags: ['ui'] },
      headers: { 'x-change-reason': 'document it' },
    });
    assert.equal(patched.status, 200, patched.text);
    const archived = await documentedCall('POST', '/api/v1/flags/{key}/archive', `${flagPath(json)}/archive`);
    assert.ok(archived.body.archivedAt);
    assert.equal(
      (await documentedCall('POST', '/api/v1/flags/{key}/archive', `${flagPath(json)}/archive`)).status,
      409,
    );
    await documentedCall('POST', '/api/v1/flags/{key}/restore', `${flagPath(json)}/restore`);
    assert.equal((await documentedCall('DELETE', '/api/v1/flags/{key}', flagPath(json))).status, 409);
    await documentedCall('POST', '/api/v1/flags/{key}/archive', `${flagPath(json)}/archive`);
    assert.equal((await documentedCall('DELETE', '/api/v1/flags/{key}', flagPath(json))).status, 204);
  });

  it('states: get, replace with If-Match, actions, rollback, history', async () => {
    const route = '/api/v1/flags/{key}/environments/{env}';
    const state = await documentedCall('GET', route, `${flagPath(key)}/environments/development`);
    assert.equal(state.headers.get('etag'), '"1"');
    assert.equal((await documentedCall('GET', route, `${flagPath(key)}/environments/nowhere`)).status, 404);
    const next = { ...state.body.state, enabled: false };
    const put = (headers: Record<string, string>) =>
      documentedCall('PUT', route, `${flagPath(key)}/environments/development`, { body: next, headers });
    assert.equal((await put({})).status, 428);
    const stale = await put({ 'if-match': '"9"' });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.currentVersion, 1);
    assert.equal((await put({ 'if-match': 'nine' })).status, 400);
    assert.equal((await put({ 'if-match': '"1"' })).status, 200);
    const action = `${route}/{action}`;
    for (const name of ['enable', 'pause', 'resume', 'disable']) {
      const changed = await documentedCall(
        'POST',
        action,
        `${flagPath(key)}/environments/development/${name}`,
      );
      assert.equal(changed.status, 200, changed.text);
    }
    assert.equal(
      (await documentedCall('POST', action, `${flagPath(key)}/environments/development/explode`)).status,
      404,
    );
    const rolledBack = await documentedCall(
      'POST',
      action,
      `${flagPath(key)}/environments/development/rollback`,
      {
        body: { toVersion: 1 },
      },
    );
    assert.equal(rolledBack.status, 200, rolledBack.text);
    const history = await documentedCall(
      'GET',
      `${route}/history`,
      `${flagPath(key)}/environments/development/history`,
    );
    assert.ok(history.body.items.length >= 5);
  });

  it('segments, apply, environments', async () => {
    const segment = 'team/docs/beta';
    const created = await documentedCall('POST', '/api/v1/segments', '/api/v1/segments', {
      body: {
        key: segment,
        description: 'beta testers',
        environments: {
          development: {
            included: ['user-1'],
            rules: [
              { id: 'staff', when: [{ attribute: 'email', op: 'endsWith', values: ['@example.com'] }] },
            ],
          },
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    const route = '/api/v1/segments/{key}';
    await documentedCall('GET', route, `/api/v1/segments/${encodeURIComponent(segment)}`);
    const replaced = await documentedCall(
      'PUT',
      `${route}/environments/{env}`,
      `/api/v1/segments/${encodeURIComponent(segment)}/environments/development`,
      { body: { excluded: ['user-9'] }, headers: { 'if-match': '"1"' } },
    );
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(
      (await documentedCall('DELETE', route, `/api/v1/segments/${encodeURIComponent(segment)}`)).status,
      204,
    );

    const documents = [
      {
        key,
        type: 'string',
        variations: { old: 'v1', new: 'v2', off: 'none' },
        environments: {},
        owner: 'someone',
      },
      { key: 'team/docs/applied', type: 'boolean', variations: { on: true, off: false }, environments: {} },
    ];
    const plan = await documentedCall('POST', '/api/v1/apply', '/api/v1/apply', {
      body: { documents, dryRun: true },
    });
    assert.equal(plan.status, 200, plan.text);
    const state = (await call('GET', `${flagPath(key)}/environments/staging`, { token: admin })).body.state;
    const applied = await documentedCall('POST', '/api/v1/apply', '/api/v1/apply', {
      body: { documents: [{ ...documents[0], environments: { staging: { ...state, enabled: true } } }] },
    });
    assert.deepEqual(applied.body.updated, [
      { key, metadata: ['description', 'tags', 'owner', 'lifecycle', 'removeBy'] },
      { key, environment: 'staging', fromVersion: 1 },
    ]);
    const refused = await documentedCall('POST', '/api/v1/apply', '/api/v1/apply', {
      body: { documents: [{ ...documents[0], type: 'boolean' }] },
    });
    assert.equal(refused.status, 422);
    assert.ok(refused.body.errors.length > 0);

    await documentedCall('GET', '/api/v1/environments', '/api/v1/environments');
    const environment = await documentedCall('POST', '/api/v1/environments', '/api/v1/environments', {
      body: { name: 'qa', description: 'for testers' },
    });
    assert.equal(environment.status, 201, environment.text);
  });

  it('the ledger: events and their verification', async () => {
    const events = await documentedCall(
      'GET',
      '/api/v1/events',
      '/api/v1/events?namespace=team/docs&limit=5',
    );
    assert.equal(events.body.items.length, 5);
    assert.equal(events.body.next, 6);
    await documentedCall('GET', '/api/v1/events', `/api/v1/events?namespace=team/docs&from=6&flag=${key}`);
    const system = await documentedCall(
      'GET',
      '/api/v1/events',
      '/api/v1/events?namespace=switchyard/system',
    );
    assert.ok(system.body.items.some((e: { action: string }) => e.action === 'token.create'));
    assert.equal((await documentedCall('GET', '/api/v1/events', '/api/v1/events')).status, 400);
    const verified = await documentedCall(
      'GET',
      '/api/v1/events/verify',
      '/api/v1/events/verify?namespace=team/docs',
    );
    assert.equal(verified.body.ok, true);
  });

  it('tokens: create, list, revoke', async () => {
    const created = await documentedCall('POST', '/api/v1/tokens', '/api/v1/tokens', {
      body: { name: 'docs sdk', role: 'sdk-server', environments: ['development'] },
    });
    assert.equal(created.status, 201, created.text);
    sdkKey = created.body.token;
    const expiring = await documentedCall('POST', '/api/v1/tokens', '/api/v1/tokens', {
      body: { name: 'reader', role: 'viewer', namespaces: ['team/docs'], expiresAt: '2040-01-01T00:00:00Z' },
    });
    assert.equal(
      (
        await documentedCall('POST', '/api/v1/tokens', '/api/v1/tokens', {
          body: { name: 'x', role: 'sdk-client' },
        })
      ).status,
      400,
    );
    assert.equal(
      (await documentedCall('DELETE', '/api/v1/tokens/{id}', `/api/v1/tokens/${expiring.body.id}`)).status,
      204,
    );
    assert.equal((await documentedCall('DELETE', '/api/v1/tokens/{id}', '/api/v1/tokens/0000')).status, 404);
    const listed = await documentedCall('GET', '/api/v1/tokens', '/api/v1/tokens');
    assert.ok(listed.body.items.some((t: { revokedAt?: string }) => t.revokedAt !== undefined));
    assert.equal(
      (await documentedCall('GET', '/api/v1/tokens', '/api/v1/tokens', { token: expiring.body.token }))
        .status,
      401,
    );
    assert.equal(
      (await documentedCall('GET', '/api/v1/flags/{key}', flagPath(key), { token: sdkKey })).status,
      403,
    );
  });

  it('delivery, exposures and health', async () => {
    await documentedCall('GET', '/sdk/v1/whoami', '/sdk/v1/whoami', { token: sdkKey });
    const snapshot = await documentedCall(
      'GET',
      '/sdk/v1/snapshot',
      '/sdk/v1/snapshot?namespaces=team/docs',
      {
        token: sdkKey,
      },
    );
    assert.match(snapshot.text, /^#switchyard-snapshot 1 /);
    const unchanged = await documentedCall(
      'GET',
      '/sdk/v1/snapshot',
      '/sdk/v1/snapshot?namespaces=team/docs',
      {
        token: sdkKey,
        headers: { 'if-none-match': snapshot.headers.get('etag')! },
      },
    );
    assert.equal(unchanged.status, 304);
    assert.equal(
      (await documentedCall('GET', '/sdk/v1/snapshot', '/sdk/v1/snapshot?env=production', { token: sdkKey }))
        .status,
      403,
    );
    const stream = new AbortController();
    const opened = await fetch(`${base}/sdk/v1/stream?namespaces=team/docs`, {
      headers: { authorization: `Bearer ${sdkKey}` },
      signal: stream.signal,
    });
    assert.equal(opened.status, 200);
    assert.ok(doc.paths['/sdk/v1/stream']!.get!.responses['200']!.content!['text/event-stream']);
    assert.equal(opened.headers.get('content-type')?.split(';')[0], 'text/event-stream');
    stream.abort();
    assert.equal(
      (await documentedCall('GET', '/sdk/v1/stream', '/sdk/v1/stream?since=nonsense', { token: sdkKey }))
        .status,
      400,
    );

    const single = '/ofrep/v1/evaluate/flags/{*}';
    const evaluated = await documentedCall('POST', single, `/ofrep/v1/evaluate/flags/${key}`, {
      token: sdkKey,
      body: { context: { targetingKey: 'user-1', email: 'a@example.com' } },
    });
    assert.equal(evaluated.status, 200, evaluated.text);
    assert.equal(
      (
        await documentedCall('POST', single, '/ofrep/v1/evaluate/flags/team/docs/nope', {
          token: sdkKey,
          body: {},
        })
      ).status,
      404,
    );
    assert.equal(
      (
        await documentedCall('POST', single, `/ofrep/v1/evaluate/flags/${key}`, {
          token: sdkKey,
          body: { context: 1 },
        })
      ).status,
      400,
    );
    const bulk = await documentedCall('POST', '/ofrep/v1/evaluate/flags', '/ofrep/v1/evaluate/flags', {
      token: sdkKey,
      body: { context: { targetingKey: 'user-3' } },
    });
    assert.ok(bulk.body.flags.some((f: { key: string }) => f.key === key));

    const reported = await documentedCall('POST', '/events/v1', '/events/v1', {
      token: sdkKey,
      body: { events: [{ kind: 'exposure', flag: key, variant: 'new', count: 3 }] },
    });
    assert.equal(reported.status, 202, reported.text);
    assert.equal(
      (
        await documentedCall('POST', '/events/v1', '/events/v1', {
          token: sdkKey,
          body: { events: [{ flag: key }] },
        })
      ).status,
      400,
    );
    const route = '/api/v1/flags/{key}/exposures';
    let counts = await documentedCall('GET', route, `${flagPath(key)}/exposures?environment=development`);
    for (let i = 0; i < 100 && counts.body.total === 0; i++) {
      await sleep(20);
      counts = await documentedCall('GET', route, `${flagPath(key)}/exposures?environment=development`);
    }
    assert.equal(counts.body.total, 3);

    await documentedCall('GET', '/healthz', '/healthz');
    await documentedCall('GET', '/readyz', '/readyz');
  });
});
