/**
 * Two control-plane servers on one real Redis Cluster (3 masters, 3 replicas) serve the same data: what
 * one writes, the other reads and changes, and each fans every change out to its own streams.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FlagStore, RedisAdapter } from '@switchyard/store';
import { type RedisCluster, startRedisCluster } from '@switchyard/store/testing';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { openStream } from './delivery/testing.js';
import { bootstrap } from './governance/bootstrap.js';
import { listenOnLoopback } from './testing.js';

describe('several servers on one Redis Cluster', () => {
  let cluster: RedisCluster;
  const servers: { app: FastifyInstance; store: FlagStore; base: string }[] = [];
  let token: string;

  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    for (let i = 0; i < 2; i++) {
      const store = new FlagStore(new RedisAdapter({ url: cluster.url, waitReplicas: 1 }));
      if (i === 0) token = (await bootstrap(store)).adminToken!;
      const app = await buildServer({ store });
      servers.push({ app, store, base: await listenOnLoopback(app) });
    }
  });
  after(async () => {
    for (const { app, store } of servers) {
      await app.close();
      await store.close();
    }
    await cluster?.stop();
  });

  const call = async (
    server: number,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${servers[server]!.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests read JSON responses loosely
    const json = (await response.json()) as Record<string, any>;
    return { status: response.status, etag: response.headers.get('etag'), body: json };
  };

  /** A boolean flag, off in staging, created through the first server. */
  const createFlag = async (key: string) => {
    const created = await call(0, 'POST', '/api/v1/flags', {
      key,
      type: 'boolean',
      variations: { on: true, off: false },
      environments: { staging: { enabled: false, offVariation: 'off', default: 'on' } },
    });
    assert.equal(created.status, 201);
  };

  it('reads on one server what the other wrote, and changes it there', async () => {
    const key = 'shared/cluster/flag';
    await createFlag(key);
    const path = `/api/v1/flags/${encodeURIComponent(key)}/environments/staging`;
    const read = await call(1, 'GET', path);
    assert.deepEqual([read.status, read.etag], [200, '"1"']);
    const changed = await call(1, 'PUT', path, { ...read.body.state, enabled: true }, { 'if-match': '"1"' });
    assert.equal(changed.status, 200);
    const seen = await call(0, 'GET', path);
    assert.deepEqual([seen.etag, seen.body.state.enabled], ['"2"', true]);
    const stale = await call(0, 'PUT', path, { ...read.body.state, enabled: false }, { 'if-match': '"1"' });
    assert.equal(stale.status, 409, 'the version check holds across servers');
    const created2 = await call(1, 'POST', '/api/v1/tokens', { name: 'made-on-b', role: 'viewer' });
    const onA = await fetch(`${servers[0]!.base}/api/v1/flags`, {
      headers: { authorization: `Bearer ${created2.body.token}` },
    });
    assert.equal(onA.status, 200, 'a token made on one server works on the other');
    assert.equal((await call(0, 'GET', '/api/v1/events/verify?namespace=shared/cluster')).body.ok, true);
  });

  it('streams a change made through one server to the SDKs of every server', async () => {
    const key = 'shared/stream/flag';
    await createFlag(key);
    const streams = await Promise.all(
      servers.map((server) =>
        openStream(`${server.base}/sdk/v1/stream?env=staging&namespaces=shared/stream`, {
          authorization: `Bearer ${token}`,
        }),
      ),
    );
    try {
      for (const stream of streams) await stream.nextOf('snapshot');
      const enabled = await call(
        1,
        'POST',
        `/api/v1/flags/${encodeURIComponent(key)}/environments/staging/enable`,
      );
      assert.equal(enabled.status, 200);
      for (const stream of streams) {
        const patch = await stream.nextOf('patch', 10_000);
        const [head, line] = patch.data.split('\n');
        assert.equal(JSON.parse(head!).namespace, 'shared/stream');
        assert.equal(JSON.parse(line!.split('\t')[1]!).state.enabled, true);
      }
    } finally {
      for (const stream of streams) stream.close();
    }
  });
});
