/**
 * The relay against a real server on LMDB, with real SDK clients: it serves the upstream's data, passes
 * changes on, keeps serving through an upstream outage (and says how stale it is), starts from disk
 * with no upstream, converges when the upstream is back, and chains.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient, type SwitchyardClient } from '@switchyard/sdk';
import { bootstrap, buildServer, newToken } from '@switchyard/server';
import { FlagStore, LmdbAdapter } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { type RunningRelay, startRelay } from './relay.js';

let dir: string;
let store: FlagStore;
let server: FastifyInstance | undefined;
let port = 0;
let base: string;
let admin: string;
let sdkKey: string;
const relays: RunningRelay[] = [];
const clients: SwitchyardClient[] = [];

const fast = { initialRetryMs: 50, maxRetryMs: 200, readTimeoutMs: 2000, requestTimeoutMs: 2000 };

async function startServer(): Promise<void> {
  server = await buildServer({ store, rateLimits: false, delivery: { heartbeatMs: 100 } });
  await server.listen({ port, host: '127.0.0.1' });
  port = (server.server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
}

async function stopServer(): Promise<void> {
  await server?.close();
  server = undefined;
}

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${await response.text()}`);
}

const toggle = (key: string, on: boolean) =>
  api(
    'POST',
    `/api/v1/flags/${encodeURIComponent(key)}/environments/production/${on ? 'enable' : 'disable'}`,
  );

async function relay(name: string, upstream: string, region = name): Promise<RunningRelay> {
  const running = await startRelay(
    {
      upstream,
      sdkKey,
      region,
      data: join(dir, name),
      port: 0,
      host: '127.0.0.1',
      heartbeatMs: 100,
      logLevel: false,
      feed: fast,
    },
    () => {},
  );
  relays.push(running);
  return running;
}

async function client(url: string): Promise<SwitchyardClient> {
  const c = createClient({ url, sdkKey, events: false, connection: fast, readyTimeoutMs: 3000 });
  clients.push(c);
  await c.ready();
  return c;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-test-'));
  store = new FlagStore(new LmdbAdapter({ path: join(dir, 'server') }));
  admin = (await bootstrap(store)).adminToken!;
  const key = newToken('relay', 'sdk-server', { environments: ['production'] });
  await store.tokens.create(key.record, { actor: 'test' });
  sdkKey = key.value;
  await startServer();
  for (const name of ['checkout', 'search']) {
    await api('POST', '/api/v1/flags', {
      key: `shop/${name}/new-flow`,
      type: 'boolean',
      variations: { on: true, off: false },
      environments: { production: { enabled: true, offVariation: 'off', default: 'on' } },
    });
  }
});

after(async () => {
  for (const c of clients) await c.close();
  for (const r of relays) await r.close().catch(() => {});
  await stopServer();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the relay', () => {
  let region: RunningRelay;
  let viaRelay: SwitchyardClient;

  it('serves the upstream’s data and passes changes on to SDKs', async () => {
    region = await relay('eu-west', base);
    viaRelay = await client(region.address);
    assert.equal(viaRelay.boolean('shop/checkout/new-flow', {}, false), true);
    const changed = new Promise((resolve) => viaRelay.on('change', resolve));
    await toggle('shop/checkout/new-flow', false);
    await changed;
    assert.equal(viaRelay.boolean('shop/checkout/new-flow', {}, true), false);
    await until(() => region.circuit() === 'closed', 'the circuit is closed');
    const metrics = await (await fetch(`${region.address}/metrics`)).text();
    assert.match(
      metrics,
      /switchyard_propagation_lag_seconds_count\{region="eu-west",environment="production"\} [1-9]/,
    );
    assert.match(metrics, /switchyard_stream_connections\{region="eu-west",kind="stream"\} 1/);
  });

  it('answers OFREP from its own copy', async () => {
    const response = await fetch(`${region.address}/ofrep/v1/evaluate/flags/shop/search/new-flow`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'u1' } }),
    });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { value: boolean }).value, true);
  });

  it('meets the server’s HTTP limits: deep JSON is a 400 problem, and so is a malformed request line', async () => {
    const deep = await fetch(`${region.address}/ofrep/v1/evaluate/flags/shop/search/new-flow`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' },
      body: `{"context":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    });
    assert.equal(deep.status, 400, await deep.text());
    const { port: relayPort } = new URL(region.address);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(relayPort), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write('GET no-slash HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /application\/problem\+json/);
  });

  it('keeps serving the last known good data when the upstream is down, and says how stale it is', async () => {
    await stopServer();
    await until(() => region.circuit() !== 'closed', 'the circuit opens');
    for (let i = 0; i < 100; i++) assert.equal(viaRelay.boolean('shop/checkout/new-flow', {}, true), false);
    const snapshot = await fetch(`${region.address}/sdk/v1/snapshot`, {
      headers: { authorization: `Bearer ${sdkKey}` },
    });
    assert.equal(snapshot.status, 200);
    assert.match(await snapshot.text(), /shop\/checkout\/new-flow/);
    await until(async () => {
      const ready = (await (await fetch(`${region.address}/readyz`)).json()) as {
        staleSeconds: number;
        upstream: string;
      };
      return ready.staleSeconds >= 1 && ready.upstream !== 'closed';
    }, 'readyz reports staleness');
    const metrics = await (await fetch(`${region.address}/metrics`)).text();
    assert.match(metrics, /switchyard_upstream_circuit_state\{region="eu-west"\} [12]/);
  });

  it('starts from disk with no upstream, then converges when the upstream is back', async () => {
    await region.close();
    relays.splice(relays.indexOf(region), 1);
    region = await relay('eu-west', base);
    const fromDisk = await client(region.address);
    assert.equal(fromDisk.boolean('shop/checkout/new-flow', {}, true), false);
    assert.equal(fromDisk.boolean('shop/search/new-flow', {}, false), true);

    await startServer();
    await toggle('shop/checkout/new-flow', true);
    await until(
      () => fromDisk.boolean('shop/checkout/new-flow', {}, false),
      'the SDK behind the restarted relay converges',
    );
    await until(() => region.circuit() === 'closed', 'the circuit closes again');
  });

  it('chains: central → region → zone', async () => {
    const zone = await relay('eu-west-1a', region.address);
    const inZone = await client(zone.address);
    assert.equal(inZone.boolean('shop/checkout/new-flow', {}, false), true);
    await toggle('shop/search/new-flow', false);
    await until(() => !inZone.boolean('shop/search/new-flow', {}, true), 'the change reaches the zone');
  });
});
