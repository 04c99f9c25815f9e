/**
 * A key revoked on the server stops working through a relay within 5 s, as on the server: its OFREP
 * calls get 401 and its open streams end. A revoked key stays refused when the upstream then goes down.
 * Against a real server on LMDB, keys made and revoked through its API.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootstrap, buildServer } from '@switchyard/server';
import { FlagStore, LmdbAdapter } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { type RunningRelay, startRelay } from './relay.js';
import { until } from './testing.js';

let dir: string;
let store: FlagStore;
let server: FastifyInstance | undefined;
let base: string;
let admin: string;
let running: RunningRelay;

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** A new sdk-server key for production, made through the API. */
async function newKey(): Promise<{ id: string; token: string }> {
  const created = await api('POST', '/api/v1/tokens', {
    name: 'sdk',
    role: 'sdk-server',
    environments: ['production'],
  });
  return { id: created.id, token: created.token };
}

const evaluate = (token: string) =>
  fetch(`${running.address}/ofrep/v1/evaluate/flags/shop/checkout/new-flow`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ context: { targetingKey: 'u1' } }),
  });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-revocation-'));
  store = new FlagStore(new LmdbAdapter({ path: join(dir, 'server') }));
  admin = (await bootstrap(store)).adminToken!;
  server = await buildServer({ store, rateLimits: false, delivery: { heartbeatMs: 100 } });
  await server.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
  await api('POST', '/api/v1/flags', {
    key: 'shop/checkout/new-flow',
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { production: { enabled: true, offVariation: 'off', default: 'on' } },
  });
  running = await startRelay(
    {
      upstream: base,
      sdkKey: (await newKey()).token,
      region: 'eu-west',
      data: join(dir, 'relay'),
      port: 0,
      host: '127.0.0.1',
      heartbeatMs: 100,
      logLevel: false,
      feed: { initialRetryMs: 50, maxRetryMs: 200, readTimeoutMs: 2000, requestTimeoutMs: 2000 },
    },
    () => {},
  );
  await until(() => running.circuit() === 'closed', 'the relay follows the server');
});

after(async () => {
  await running.close();
  await server?.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('keys revoked on the server, through a relay', () => {
  it('answers OFREP 401 within 5 s of the key’s revocation through the API', async () => {
    const key = await newKey();
    // The key is known to the relay (and to the server's cache) when it is revoked.
    assert.equal((await evaluate(key.token)).status, 200);
    assert.equal((await evaluate(key.token)).status, 200);
    await api('DELETE', `/api/v1/tokens/${key.id}`);
    const revokedAt = Date.now();
    await until(async () => (await evaluate(key.token)).status === 401, 'the relay refuses the key', 5000);
    assert.ok(Date.now() - revokedAt < 5000, `refused after ${Date.now() - revokedAt} ms`);
  });

  it('ends the key’s open streams within 5 s of its revocation', async () => {
    const key = await newKey();
    const other = await newKey();
    const open = async (token: string) => {
      const response = await fetch(`${running.address}/sdk/v1/stream`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.status, 200);
      return response.body!.getReader();
    };
    const stream = await open(key.token);
    const untouched = await open(other.token);
    await stream.read();
    await api('DELETE', `/api/v1/tokens/${key.id}`);
    const revokedAt = Date.now();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      void stream.cancel();
    }, 5000);
    try {
      // Frames (heartbeats every 100 ms) until the relay ends the stream.
      let ended = false;
      while (!ended) ({ done: ended } = await stream.read());
    } finally {
      clearTimeout(deadline);
    }
    assert.ok(!timedOut, 'the stream is still open 5 s after the revocation');
    assert.ok(Date.now() - revokedAt < 5000, `ended after ${Date.now() - revokedAt} ms`);
    // Another key's stream goes on.
    assert.equal((await untouched.read()).done, false);
    await untouched.cancel();
  });

  it('keeps refusing a revoked key when the upstream then goes down, while keys it saw valid still work', async () => {
    const revoked = await newKey();
    const valid = await newKey();
    assert.equal((await evaluate(revoked.token)).status, 200);
    assert.equal((await evaluate(valid.token)).status, 200);
    await api('DELETE', `/api/v1/tokens/${revoked.id}`);
    await until(
      async () => (await evaluate(revoked.token)).status === 401,
      'the relay refuses the key',
      5000,
    );
    await server?.close();
    server = undefined;
    await until(() => running.circuit() !== 'closed', 'the circuit opens');
    // Not accepted from what the relay remembered of it: it cannot check it (503), and says so.
    const refused = await evaluate(revoked.token);
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { detail: string }).detail, /has not seen before/);
    assert.equal((await evaluate(valid.token)).status, 200);
  });
});
