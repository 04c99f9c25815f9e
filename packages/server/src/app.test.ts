/**
 * The control plane over real HTTP: a server on LMDB listening on a loopback port, called with fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { newToken, type Role } from './governance/access.js';
import { bootstrap } from './governance/bootstrap.js';
import { createMetrics } from './metrics.js';
import { callApi, listenOnLoopback, temporaryStore } from './testing.js';

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let store: FlagStore;
let base: string;
const tokens: Record<string, string> = {};

const call = (
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) => callApi(base, method, path, options);

const flagDoc = (key: string, production: Record<string, unknown> = {}) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: { development: { enabled: true, offVariation: 'off', default: 'on' }, ...production },
});
const path = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;

before(async () => {
  const metrics = createMetrics();
  temp = temporaryStore({ observe: metrics.observeStore });
  store = temp.store;
  const first = await bootstrap(store);
  tokens.admin = first.adminToken!;
  const make = async (name: string, role: Role, scopes = {}) => {
    const { value, record } = newToken(name, role, scopes);
    await store.tokens.create(record, { actor: 'test' });
    tokens[name] = value;
  };
  await make('viewer', 'viewer');
  await make('editor', 'editor');
  await make('publisher', 'publisher');
  await make('scoped', 'publisher', { namespaces: ['team/a'], environments: ['development'] });
  app = await buildServer({ store, metrics });
  base = await listenOnLoopback(app);
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('control plane over HTTP', () => {
  it('answers health, readiness, the landing page, OpenAPI and metrics without a token', async () => {
    assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok' });
    assert.equal((await call('GET', '/readyz')).body.status, 'ready');
    assert.match((await call('GET', '/')).body, /Switchyard is running/);
    const openapi = (await call('GET', '/openapi.json')).body;
    assert.equal(openapi.openapi, '3.1.0');
    assert.ok(openapi.paths['/api/v1/flags']);
    assert.equal((await call('GET', '/docs')).status, 200);
    const metrics = (await call('GET', '/metrics')).body;
    assert.match(
      metrics,
      /switchyard_http_request_duration_seconds_count\{route="\/healthz",method="GET",status="200"\} 1/,
    );
    assert.match(
      metrics,
      /switchyard_store_operation_duration_seconds_count\{operation="ledgerHead",outcome="ok"\} \d+/,
    );
  });

  it('refuses API calls without a valid token, as problem+json', async () => {
    const missing = await call('GET', '/api/v1/flags');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(missing.body.title, 'Unauthorized');
    assert.equal(
      (await call('GET', '/api/v1/flags', { token: `sy_${'0'.repeat(16)}_${'a'.repeat(43)}` })).status,
      401,
    );
    assert.equal((await call('GET', '/api/v1/flags', { token: 'not-a-token' })).status, 401);
  });

  it('lets roles do what they may: viewers read, editors write, only publishers change protected environments', async () => {
    assert.equal(
      (await call('POST', '/api/v1/flags', { token: tokens.viewer, body: flagDoc('team/a/by-viewer') }))
        .status,
      403,
    );
    const created = await call('POST', '/api/v1/flags', {
      token: tokens.editor,
      body: flagDoc('team/a/roles'),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('location'), path('team/a/roles'));
    assert.equal((await call('GET', path('team/a/roles'), { token: tokens.viewer })).status, 200);
    const protectedChange = await call('POST', `${path('team/a/roles')}/environments/production/enable`, {
      token: tokens.editor,
    });
    assert.equal(protectedChange.status, 403);
    assert.match(protectedChange.body.detail, /protected environment "production"/);
    assert.equal(
      (await call('POST', `${path('team/a/roles')}/environments/staging/enable`, { token: tokens.editor }))
        .status,
      200,
    );
    assert.equal(
      (
        await call('POST', `${path('team/a/roles')}/environments/production/enable`, {
          token: tokens.publisher,
        })
      ).status,
      200,
    );
    assert.equal((await call('GET', '/api/v1/tokens', { token: tokens.publisher })).status, 403);
  });

  it('confines scoped tokens to their namespaces and environments', async () => {
    assert.equal(
      (await call('POST', '/api/v1/flags', { token: tokens.scoped, body: flagDoc('team/b/outside') })).status,
      403,
    );
    // A new flag is served in every environment: a token limited to some may not create one.
    assert.equal(
      (await call('POST', '/api/v1/flags', { token: tokens.scoped, body: flagDoc('team/a/inside') })).status,
      403,
    );
    assert.equal(
      (await call('POST', '/api/v1/flags', { token: tokens.admin, body: flagDoc('team/a/inside') })).status,
      201,
    );
    assert.equal(
      (
        await call('POST', `${path('team/a/inside')}/environments/production/enable`, {
          token: tokens.scoped,
        })
      ).status,
      403,
    );
    const listed = await call('GET', '/api/v1/flags?prefix=team/', { token: tokens.scoped });
    assert.ok(listed.body.items.every((m: { key: string }) => m.key.startsWith('team/a/')));
  });

  it('rejects invalid documents with located issues and duplicates with a conflict, changing nothing', async () => {
    const invalid = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: flagDoc('team/a/invalid', { production: { enabled: true, offVariation: 'off', default: 'onn' } }),
    });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.body.errors, [
      { path: 'environments.production.default', message: 'unknown variation "onn" (did you mean "on"?)' },
    ]);
    assert.equal((await call('GET', path('team/a/invalid'), { token: tokens.admin })).status, 404);
    const duplicate = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: flagDoc('team/a/roles'),
    });
    assert.equal(duplicate.status, 409);
    assert.equal((await call('POST', '/api/v1/flags', { token: tokens.admin, body: [1, 2] })).status, 400);
    const malformed = await fetch(`${base}/api/v1/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' },
      body: '{"key": ',
    });
    assert.equal(malformed.status, 400);
  });

  it('changes a state only with the right If-Match, and reports the new version as its ETag', async () => {
    const key = 'team/a/versioned';
    await call('POST', '/api/v1/flags', { token: tokens.admin, body: flagDoc(key) });
    const read = await call('GET', `${path(key)}/environments/development`, { token: tokens.admin });
    assert.equal(read.headers.get('etag'), '"1"');
    const next = { ...read.body.state, enabled: false };
    const missing = await call('PUT', `${path(key)}/environments/development`, {
      token: tokens.admin,
      body: next,
    });
    assert.equal(missing.status, 428);
    const stale = await call('PUT', `${path(key)}/environments/development`, {
      token: tokens.admin,
      body: next,
      headers: { 'if-match': '"7"' },
    });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.currentVersion, 1);
    const ok = await call('PUT', `${path(key)}/environments/development`, {
      token: tokens.admin,
      body: next,
      headers: { 'if-match': '"1"', 'x-change-reason': 'turning it off for the demo' },
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.headers.get('etag'), '"2"');
    const events = await call('GET', `/api/v1/events?namespace=team/a&flag=${encodeURIComponent(key)}`, {
      token: tokens.admin,
    });
    const last = events.body.items.at(-1);
    assert.deepEqual(
      [last.action, last.reason, last.fromVersion, last.toVersion],
      ['state.update', 'turning it off for the demo', 1, 2],
    );
    assert.match(last.actor, /^admin \(token [0-9a-f]{16}\)$/);
  });

  it('runs the lifecycle: pause, resume, disable, rollback, history, archive, restore, delete', async () => {
    const key = 'team/a/lifecycle';
    await call('POST', '/api/v1/flags', { token: tokens.admin, body: flagDoc(key) });
    const env = `${path(key)}/environments/development`;
    const paused = await call('POST', `${env}/pause`, { token: tokens.admin });
    assert.equal(paused.body.state.paused, true);
    assert.ok(paused.body.state.pausedAt);
    const resumed = await call('POST', `${env}/resume`, { token: tokens.admin });
    assert.equal(resumed.body.state.paused, undefined);
    const disabled = await call('POST', `${env}/disable`, { token: tokens.admin });
    assert.deepEqual([disabled.body.version, disabled.body.state.enabled], [4, false]);
    const rolled = await call('POST', `${env}/rollback`, { token: tokens.admin, body: { toVersion: 1 } });
    assert.deepEqual([rolled.body.version, rolled.body.state.enabled], [5, true]);
    assert.equal((await call('POST', `${env}/rollback`, { token: tokens.admin, body: {} })).status, 400);
    assert.equal((await call('POST', `${env}/explode`, { token: tokens.admin })).status, 404);
    const history = await call('GET', `${env}/history`, { token: tokens.admin });
    assert.deepEqual(
      history.body.items.map((h: { version: number }) => h.version),
      [4, 3, 2, 1],
    );
    assert.equal(
      (await call('DELETE', path(key), { token: tokens.admin })).status,
      409,
      'only archived flags can be deleted',
    );
    assert.ok((await call('POST', `${path(key)}/archive`, { token: tokens.admin })).body.archivedAt);
    assert.equal((await call('POST', `${env}/enable`, { token: tokens.admin })).status, 409);
    assert.equal((await call('POST', `${path(key)}/restore`, { token: tokens.admin })).status, 200);
    await call('POST', `${path(key)}/archive`, { token: tokens.admin });
    assert.equal((await call('DELETE', path(key), { token: tokens.admin })).status, 204);
    assert.equal((await call('GET', path(key), { token: tokens.admin })).status, 404);
  });

  it('honours Idempotency-Key: a repeat returns the first result, another request under it is refused', async () => {
    const headers = { 'idempotency-key': 'create-idem-1' };
    const first = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: flagDoc('team/a/idem'),
      headers,
    });
    const again = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: flagDoc('team/a/idem'),
      headers,
    });
    assert.deepEqual([first.status, again.status], [201, 201]);
    assert.deepEqual(again.body, first.body);
    const other = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: flagDoc('team/a/idem-2'),
      headers,
    });
    assert.equal(other.status, 409);
  });

  it('edits metadata, queries flags with pagination, and verifies the ledger', async () => {
    const patched = await call('PATCH', path('team/a/roles'), {
      token: tokens.editor,
      body: { description: 'Roles demo flag', tags: ['demo'] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(
      (await call('PATCH', path('team/a/roles'), { token: tokens.editor, body: { type: 'string' } })).status,
      400,
    );
    const byTag = await call('GET', '/api/v1/flags?tag=demo', { token: tokens.viewer });
    assert.deepEqual(
      byTag.body.items.map((m: { key: string }) => m.key),
      ['team/a/roles'],
    );
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'GET',
        `/api/v1/flags?prefix=team/&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: tokens.viewer },
      );
      keys.push(...page.body.items.map((m: { key: string }) => m.key));
      cursor = page.body.cursor;
    } while (cursor);
    assert.deepEqual(keys, [...new Set(keys)].sort());
    assert.ok(keys.includes('team/a/versioned'));
    const enabled = await call('GET', '/api/v1/flags?prefix=team/a/&enabledIn=production', {
      token: tokens.viewer,
    });
    assert.deepEqual(
      enabled.body.items.map((m: { key: string }) => m.key),
      ['team/a/roles'],
    );
    const verified = await call('GET', '/api/v1/events/verify?namespace=team/a', { token: tokens.viewer });
    assert.equal(verified.body.ok, true);
  });

  it('creates, lists and revokes tokens; a token is shown once and stops working when revoked', async () => {
    const created = await call('POST', '/api/v1/tokens', {
      token: tokens.admin,
      body: { name: 'ci', role: 'viewer' },
    });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^sy_[0-9a-f]{16}_/);
    assert.equal(created.body.secretHash, undefined);
    assert.equal((await call('GET', '/api/v1/flags', { token: created.body.token })).status, 200);
    const listed = await call('GET', '/api/v1/tokens', { token: tokens.admin });
    assert.ok(
      listed.body.items.some(
        (t: { id: string; token?: string }) => t.id === created.body.id && t.token === undefined,
      ),
    );
    assert.equal(
      (await call('DELETE', `/api/v1/tokens/${created.body.id}`, { token: tokens.admin })).status,
      204,
    );
    assert.equal((await call('GET', '/api/v1/flags', { token: created.body.token })).status, 401);
    assert.equal(
      (await call('POST', '/api/v1/tokens', { token: tokens.admin, body: { name: 'x', role: 'root' } }))
        .status,
      400,
    );
  });

  it('keeps segments, versioned per environment, that flags can reference', async () => {
    const created = await call('POST', '/api/v1/segments', {
      token: tokens.editor,
      body: { key: 'team/a/beta', environments: { development: { included: ['u1'] } } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const segmentPath = `/api/v1/segments/${encodeURIComponent('team/a/beta')}`;
    assert.deepEqual(
      (await call('GET', segmentPath, { token: tokens.viewer })).body.states.development.state.included,
      ['u1'],
    );
    const updated = await call('PUT', `${segmentPath}/environments/development`, {
      token: tokens.editor,
      body: { included: ['u1', 'u2'] },
      headers: { 'if-match': '"1"' },
    });
    assert.equal(updated.headers.get('etag'), '"2"');
    const rule = { id: 'beta', when: [{ op: 'inSegment', values: ['team/a/beta'] }], serve: 'on' };
    const flag = flagDoc('team/a/uses-beta');
    flag.environments.development = { ...flag.environments.development, rules: [rule] } as never;
    assert.equal((await call('POST', '/api/v1/flags', { token: tokens.editor, body: flag })).status, 201);
    assert.equal((await call('DELETE', segmentPath, { token: tokens.editor })).status, 204);
  });

  it('applies a set of documents: a dry run plans, an apply creates and updates, identity never changes', async () => {
    const documents = [
      flagDoc('team/a/applied-new'),
      {
        ...flagDoc('team/a/roles'),
        description: 'Changed by apply',
        tags: ['demo'],
        environments: { development: { enabled: true, offVariation: 'off', default: 'off' } },
      },
    ];
    const plan = await call('POST', '/api/v1/apply', {
      token: tokens.publisher,
      body: { documents, dryRun: true },
    });
    assert.equal(plan.status, 200, JSON.stringify(plan.body));
    assert.deepEqual(plan.body.created, ['team/a/applied-new']);
    assert.deepEqual(plan.body.updated.map((u: { key: string }) => u.key).sort(), [
      'team/a/roles',
      'team/a/roles',
    ]);
    assert.equal(
      (await call('GET', path('team/a/applied-new'), { token: tokens.admin })).status,
      404,
      'a dry run writes nothing',
    );
    const applied = await call('POST', '/api/v1/apply', { token: tokens.publisher, body: { documents } });
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    assert.equal((await call('GET', path('team/a/applied-new'), { token: tokens.admin })).status, 200);
    const roles = (await call('GET', path('team/a/roles'), { token: tokens.admin })).body;
    assert.equal(roles.meta.description, 'Changed by apply');
    assert.equal(roles.states.development.state.default, 'off');
    const again = await call('POST', '/api/v1/apply', { token: tokens.publisher, body: { documents } });
    assert.deepEqual([again.body.created, again.body.updated, again.body.unchanged], [[], [], 2]);
    const retyped = await call('POST', '/api/v1/apply', {
      token: tokens.publisher,
      body: {
        documents: [{ ...flagDoc('team/a/roles'), type: 'string', variations: { on: 'a', off: 'b' } }],
      },
    });
    assert.equal(retyped.status, 422);
    assert.match(retyped.body.detail, /identity and cannot change/);
    const invalid = await call('POST', '/api/v1/apply', {
      token: tokens.publisher,
      body: { documents: [{ key: 'team/a/x' }] },
    });
    assert.equal(invalid.status, 422);
    assert.ok(
      invalid.body.errors.some(
        (e: { document: string; path: string }) => e.document === 'team/a/x' && e.path === 'type',
      ),
    );
  });

  it('issues SDK keys for one environment, which the control-plane API refuses', async () => {
    const key = await call('POST', '/api/v1/tokens', {
      token: tokens.admin,
      body: { name: 'checkout-service', role: 'sdk-server', environments: ['production'] },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    assert.deepEqual([key.body.role, key.body.scopes.environments], ['sdk-server', ['production']]);
    const refused = await call('GET', '/api/v1/flags', { token: key.body.token });
    assert.equal(refused.status, 403);
    assert.match(refused.body.detail, /delivery endpoints only/);
    const unscoped = await call('POST', '/api/v1/tokens', {
      token: tokens.admin,
      body: { name: 'web', role: 'sdk-client' },
    });
    assert.equal(unscoped.status, 400);
    assert.match(unscoped.body.detail, /exactly one environment/);
  });

  it('answers unknown routes and oversized bodies with problems', async () => {
    const unknown = await call('GET', '/api/v1/nothing', { token: tokens.admin });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.title, 'Not Found');
    const huge = await call('POST', '/api/v1/flags', {
      token: tokens.admin,
      body: { key: 'a/b/c', padding: 'x'.repeat(2 * 1024 * 1024) },
    });
    assert.equal(huge.status, 413);
  });
});
