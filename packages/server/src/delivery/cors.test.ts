/**
 * CORS for the routes browsers call (OFREP, /sdk/v1/*, /events/v1), for the allowed origins only,
 * against a real server on LMDB; none at all by default.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { listenOnLoopback, temporaryStore } from '../testing.js';

const ALLOWED = 'https://app.example.com';

let temp: ReturnType<typeof temporaryStore>;
let store: FlagStore;
let client: string;
let withCors: string;
let withoutCors: string;
const servers: FastifyInstance[] = [];

const preflight = (base: string, path: string, origin = ALLOWED) =>
  fetch(`${base}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  await bootstrap(store);
  const { value, record } = newToken('browser', 'sdk-client', { environments: ['production'] });
  await store.tokens.create(record, { actor: 'test' });
  client = value;
  for (const corsOrigins of [[ALLOWED], undefined]) {
    const app = await buildServer({
      store,
      rateLimits: false,
      delivery: corsOrigins === undefined ? {} : { corsOrigins },
    });
    servers.push(app);
    if (corsOrigins === undefined) withoutCors = await listenOnLoopback(app);
    else withCors = await listenOnLoopback(app);
  }
});

after(async () => {
  for (const app of servers) await app.close();
  await temp.remove();
});

describe('CORS for delivery routes', () => {
  it('answers a preflight from an allowed origin with 204 and the headers a browser needs', async () => {
    for (const path of [
      '/ofrep/v1/evaluate/flags',
      '/ofrep/v1/evaluate/flags/a%2Fb',
      '/sdk/v1/stream',
      '/events/v1',
    ]) {
      const response = await preflight(withCors, path);
      assert.equal(response.status, 204, path);
      assert.equal(response.headers.get('access-control-allow-origin'), ALLOWED, path);
      assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/, path);
      assert.match(response.headers.get('access-control-allow-headers') ?? '', /authorization/i, path);
    }
  });

  it('adds the allowed origin to an answer, and lets the browser read its ETag', async () => {
    const response = await fetch(`${withCors}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { origin: ALLOWED, authorization: `Bearer ${client}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'u1' } }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(response.headers.get('access-control-expose-headers') ?? '', /etag/i);
    await response.body?.cancel();
  });

  it('gives other origins, the control-plane API and a server without origins no CORS headers', async () => {
    const other = await preflight(withCors, '/ofrep/v1/evaluate/flags', 'https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    await other.body?.cancel();
    const api = await preflight(withCors, '/api/v1/tokens');
    assert.ok(api.status >= 400, `OPTIONS /api/v1/tokens answered ${api.status}`);
    assert.equal(api.headers.get('access-control-allow-origin'), null);
    await api.body?.cancel();
    const none = await preflight(withoutCors, '/ofrep/v1/evaluate/flags');
    assert.equal(none.status, 404);
    assert.equal(none.headers.get('access-control-allow-origin'), null);
    await none.body?.cancel();
  });
});
