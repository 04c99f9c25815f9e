import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { listenOnLoopback, temporaryStore } from '../testing.js';
import { newToken } from './access.js';
import { bootstrap } from './bootstrap.js';

describe('rate limits on changes, over HTTP', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let now = Date.parse('2026-11-24T12:00:00Z');
  const tokens: string[] = [];

  before(async () => {
    temp = temporaryStore();
    store = temp.store;
    tokens.push((await bootstrap(store)).adminToken!);
    const second = newToken('second', 'admin');
    await store.tokens.create(second.record, { actor: 'test' });
    tokens.push(second.value);
    app = await buildServer({
      store,
      clock: () => now,
      rateLimits: { actor: { perSecond: 1, burst: 2 }, namespace: { perSecond: 1, burst: 3 } },
    });
    base = await listenOnLoopback(app);
  });
  after(async () => {
    await app.close();
    await temp.remove();
  });

  const create = (token: string, key: string) =>
    fetch(`${base}/api/v1/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key, type: 'boolean', variations: { on: true, off: false }, environments: {} }),
    });

  it('refuses changes past a token’s burst with 429 and Retry-After, and allows them again as time passes', async () => {
    assert.equal((await create(tokens[0]!, 'limits/a/one')).status, 201);
    assert.equal((await create(tokens[0]!, 'limits/a/two')).status, 201);
    const refused = await create(tokens[0]!, 'limits/b/three');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    const problem = (await refused.json()) as { detail: string };
    assert.match(problem.detail, /this token may make 1 changes per second/);
    assert.equal(
      (await fetch(`${base}/api/v1/flags`, { headers: { authorization: `Bearer ${tokens[0]}` } })).status,
      200,
      'reads are not limited',
    );
    now += 1000;
    assert.equal((await create(tokens[0]!, 'limits/b/three')).status, 201);
  });

  it('limits a namespace across tokens', async () => {
    now += 10_000;
    assert.equal((await create(tokens[1]!, 'limits/c/one')).status, 201);
    assert.equal((await create(tokens[1]!, 'limits/c/two')).status, 201);
    assert.equal((await create(tokens[0]!, 'limits/c/three')).status, 201);
    const refused = await create(tokens[0]!, 'limits/c/four');
    assert.equal(refused.status, 429);
    assert.match(((await refused.json()) as { detail: string }).detail, /namespace "limits\/c"/);
  });
});
