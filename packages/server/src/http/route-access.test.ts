/**
 * Authentication on the routed path, before any body: the raw URL's spelling changes nothing, and a
 * request without a token, with too small a role or to no route is answered before its body is sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken, type Role, type SdkRole } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { answerBeforeBody, callApi, listenOnLoopback, temporaryStore, within } from '../testing.js';

/** The size of the apply body the probe sent: far more than the test ever writes. */
const LARGE = 47 * 1024 * 1024;
const SENT = 64 * 1024;

let temp: ReturnType<typeof temporaryStore>;
let store: FlagStore;
let app: FastifyInstance;
let base: string;
const tokens: Record<string, string> = {};

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  tokens.admin = (await bootstrap(store)).adminToken!;
  const make = async (name: string, role: Role | SdkRole, environments: string[] = []) => {
    const { value, record } = newToken(name, role, { environments });
    await store.tokens.create(record, { actor: 'test' });
    tokens[name] = value;
  };
  await make('viewer', 'viewer');
  await make('editor', 'editor');
  await make('sdk', 'sdk-server', ['development']);
  app = await buildServer({ store, rateLimits: false });
  base = await listenOnLoopback(app);
});

after(async () => {
  await app.close();
  await temp.remove();
});

const bearer = (name: string) => ({ authorization: `Bearer ${tokens[name]}` });

describe('access decided by the routed path', () => {
  it('guards /%61pi/v1/tokens as /api/v1/tokens: 401 without a token, 403 for a viewer, the list for an admin', async () => {
    const anonymous = await callApi(base, 'GET', '/%61pi/v1/tokens');
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.equal(anonymous.type, 'application/problem+json');
    assert.equal((await callApi(base, 'GET', '/%61pi/v1/tokens', { token: tokens.viewer })).status, 403);
    const listed = await callApi(base, 'GET', '/%61pi/v1/tokens', { token: tokens.admin });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body,
      (await callApi(base, 'GET', '/api/v1/tokens', { token: tokens.admin })).body,
    );
  });

  it('refuses an SDK key on the control plane before its handler runs', async () => {
    const answer = await callApi(base, 'GET', '/%61pi/v1/flags', { token: tokens.sdk });
    assert.equal(answer.status, 403);
    assert.match(answer.body.detail, /delivery endpoints only/);
  });

  it('answers POST /%61pi/v1/apply without a token with 401 before the body is sent, and closes the connection', async () => {
    const answer = await answerBeforeBody(base, 'POST', '/%61pi/v1/apply', {
      declaredBytes: LARGE,
      sentBytes: SENT,
    });
    assert.equal(answer.status, 401);
    assert.equal(answer.body.title, 'Unauthorized');
    assert.equal(answer.connection, 'close');
    await within(answer.closed, 5000, 'the server closing the connection');
  });

  it("refuses a viewer's 47 MB apply with 403 before the body is sent", async () => {
    const answer = await answerBeforeBody(base, 'POST', '/api/v1/apply', {
      declaredBytes: LARGE,
      sentBytes: SENT,
      headers: bearer('viewer'),
    });
    assert.equal(answer.status, 403);
    assert.match(answer.body.detail, /needs editor/);
    await within(answer.closed, 5000, 'the server closing the connection');
  });

  it('answers a body sent to no route with 404 before the body, even with a valid token', async () => {
    for (const path of ['/api/v1/nowhere', '/%61pi/v1/nowhere', '/nowhere']) {
      const answer = await answerBeforeBody(base, 'POST', path, {
        declaredBytes: LARGE,
        sentBytes: SENT,
        headers: bearer('admin'),
      });
      assert.equal(answer.status, 404, path);
      assert.match(answer.body.detail, /^no route POST /);
      await within(answer.closed, 5000, 'the server closing the connection');
    }
  });

  it('refuses to register a route that has no access rule', async () => {
    const other = await buildServer({ store, rateLimits: false });
    assert.throws(
      () => other.get('/surprise', async () => 'open'),
      /route GET \/surprise has no access rule/,
    );
    other.post('/surprise-declared', { config: { access: 'admin' } }, async () => 'guarded');
    await other.ready();
    const answer = await other.inject({ method: 'POST', url: '/surprise-declared' });
    assert.equal(answer.statusCode, 401);
    await other.close();
  });
});
