/**
 * Sensitive values through delivery: `sdk-client` keys (and tokens without the right) never receive them —
 * OFREP's bulk evaluation leaves such flags out, single evaluation is a 403 problem, snapshots and streams
 * leave them out — while `sdk-server` keys receive them. Against a real server on LMDB with a keyring.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type FlagStore, keyring } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken, type Role, type SdkRole } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';
import { openStream } from './testing.js';

const SECRET = 'sk-live-0123456789';

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let store: FlagStore;
let base: string;
let admin: string;
const keys: Record<string, string> = {};

const flag = (key: string, sensitive: boolean) => ({
  key,
  type: 'string',
  ...(sensitive ? { sensitive: true } : {}),
  variations: { live: sensitive ? SECRET : 'public-value', none: 'none' },
  environments: { production: { enabled: true, offVariation: 'none', default: 'live' } },
});

const evaluate = (path: string, key: string) =>
  callApi(base, 'POST', `/ofrep/v1/evaluate/flags${path}`, {
    body: { context: { targetingKey: 'u1' } },
    headers: { authorization: `Bearer ${key}` },
  });

before(async () => {
  temp = temporaryStore({ encryptionKeys: keyring([randomBytes(32)]) });
  store = temp.store;
  admin = (await bootstrap(store)).adminToken!;
  const make = async (name: string, role: Role | SdkRole) => {
    const { value, record } = newToken(name, role, { environments: ['production'] });
    await store.tokens.create(record, { actor: 'test' });
    keys[name] = value;
  };
  await make('client', 'sdk-client');
  await make('server', 'sdk-server');
  await make('viewer', 'viewer');
  app = await buildServer({ store, rateLimits: false });
  base = await listenOnLoopback(app);
  for (const doc of [flag('vault/api/endpoint', true), flag('vault/api/plain', false)]) {
    const created = await callApi(base, 'POST', '/api/v1/flags', { token: admin, body: doc });
    assert.equal(created.status, 201, created.text);
  }
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('sensitive values through OFREP', () => {
  it('leaves sensitive flags out of a bulk evaluation for sdk-client keys and tokens without the right', async () => {
    for (const who of ['client', 'viewer']) {
      const bulk = await evaluate('', keys[who]!);
      assert.equal(bulk.status, 200, bulk.text);
      const flagKeys = (bulk.body.flags as { key: string }[]).map((f) => f.key);
      assert.deepEqual(flagKeys, ['vault/api/plain'], who);
      assert.ok(!bulk.text.includes(SECRET), who);
    }
  });

  it('refuses a single evaluation of a sensitive flag to an sdk-client key with a 403 problem', async () => {
    const single = await evaluate('/vault%2Fapi%2Fendpoint', keys.client!);
    assert.equal(single.status, 403);
    assert.equal(single.type, 'application/problem+json');
    assert.match(single.body.detail, /sensitive/);
    assert.ok(!single.text.includes(SECRET));
    assert.equal((await evaluate('/vault%2Fapi%2Fplain', keys.client!)).body.value, 'public-value');
  });

  it('evaluates sensitive flags for sdk-server keys, in bulk and one by one', async () => {
    const single = await evaluate('/vault%2Fapi%2Fendpoint', keys.server!);
    assert.equal(single.status, 200);
    assert.equal(single.body.value, SECRET);
    const bulk = await evaluate('', keys.server!);
    assert.deepEqual(
      (bulk.body.flags as { key: string }[]).map((f) => f.key),
      ['vault/api/endpoint', 'vault/api/plain'],
    );
  });

  it('withholds a flag made sensitive after its namespace was loaded', async () => {
    const doc = flag('vault/api/later', false);
    assert.equal((await callApi(base, 'POST', '/api/v1/flags', { token: admin, body: doc })).status, 201);
    assert.equal((await evaluate('/vault%2Fapi%2Flater', keys.client!)).status, 200);
    // Archived and made again as sensitive: the view learns it from the patch.
    const path = '/api/v1/flags/vault%2Fapi%2Flater';
    assert.equal((await callApi(base, 'POST', `${path}/archive`, { token: admin })).status, 200);
    assert.equal((await callApi(base, 'DELETE', path, { token: admin })).status, 204);
    const again = await callApi(base, 'POST', '/api/v1/flags', {
      token: admin,
      body: flag('vault/api/later', true),
    });
    assert.equal(again.status, 201, again.text);
    const deadline = Date.now() + 5000;
    let status = 200;
    while (status !== 403 && Date.now() < deadline) {
      status = (await evaluate('/vault%2Fapi%2Flater', keys.client!)).status;
    }
    assert.equal(status, 403);
  });
});

describe('sensitive values through snapshots and streams', () => {
  const snapshot = async (key: string) => {
    const response = await fetch(`${base}/sdk/v1/snapshot?namespaces=vault/api`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(response.status, 200);
    return { text: await response.text(), etag: response.headers.get('etag') };
  };

  it('leaves sensitive flags out of the snapshot of a token without the right, not of an sdk-server key', async () => {
    const viewer = await snapshot(keys.viewer!);
    assert.ok(!viewer.text.includes('F vault/api/endpoint\t'));
    assert.ok(viewer.text.includes('F vault/api/plain\t'));
    const server = await snapshot(keys.server!);
    assert.ok(server.text.includes('F vault/api/endpoint\t'));
    assert.notEqual(viewer.etag, server.etag);
  });

  it('streams a new sensitive flag as a removal to a token without the right, whole to an sdk-server key', async () => {
    const url = `${base}/sdk/v1/stream?namespaces=vault/api`;
    const viewer = await openStream(url, { authorization: `Bearer ${keys.viewer}` });
    const server = await openStream(url, { authorization: `Bearer ${keys.server}` });
    try {
      const first = await viewer.nextOf('snapshot');
      assert.ok(!first.data.includes(SECRET));
      assert.ok(first.data.includes('F vault/api/plain\t'));
      assert.ok((await server.nextOf('snapshot')).data.includes(SECRET));
      const created = await callApi(base, 'POST', '/api/v1/flags', {
        token: admin,
        body: flag('vault/api/new-secret', true),
      });
      assert.equal(created.status, 201);
      const patch = await viewer.nextOf('patch', 5000);
      assert.match(patch.data, /^-F vault\/api\/new-secret$/m);
      assert.ok(!patch.data.includes(SECRET));
      assert.ok((await server.nextOf('patch', 5000)).data.includes(SECRET));
    } finally {
      viewer.close();
      server.close();
    }
  });
});
