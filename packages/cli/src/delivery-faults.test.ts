/**
 * Delivery through faults, with real processes: a `switchyard serve` and a `switchyard relay`, and SDK
 * clients connected to each. Killing the server leaves every SDK answering from its last known good
 * data with zero errors; a relay restarted with its upstream down serves from disk; when the server is
 * back, everyone converges.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient, type SwitchyardClient } from '@switchyard/sdk';
import { freePort, kill, type Started, startSwitchyard } from './testing/processes.js';

const ADMIN = `sy_${'a'.repeat(16)}_${'b'.repeat(43)}`;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-delivery-faults-'));
const FLAGS = ['shop/cart/express', 'shop/cart/coupons', 'shop/search/fuzzy'];
const fast = { initialRetryMs: 50, maxRetryMs: 300, readTimeoutMs: 3000, requestTimeoutMs: 3000 };

let serverPort: number;
let relayPort: number;
let server: Started;
let relay: Started;
let sdkKey: string;
const clients: SwitchyardClient[] = [];

const serverArgs = () => ['serve', '--port', String(serverPort), '--data', join(dir, 'server')];
const relayArgs = () => [
  'relay',
  '--upstream',
  `http://127.0.0.1:${serverPort}`,
  '--sdk-key',
  sdkKey,
  '--region',
  'eu-west',
  '--data',
  join(dir, 'relay'),
  '--port',
  String(relayPort),
];
const startServer = () => startSwitchyard(serverArgs(), 'API docs:', { SWITCHYARD_ADMIN_TOKEN: ADMIN });
const startRelay = () => startSwitchyard(relayArgs(), 'Switchyard relay on');

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${serverPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const setFlag = (key: string, on: boolean) =>
  api(
    'POST',
    `/api/v1/flags/${encodeURIComponent(key)}/environments/production/${on ? 'enable' : 'disable'}`,
  );

async function client(port: number, cacheFile?: string): Promise<SwitchyardClient> {
  const c = createClient({
    url: `http://127.0.0.1:${port}`,
    sdkKey,
    events: false,
    connection: fast,
    readyTimeoutMs: 5000,
    ...(cacheFile ? { cacheFile } : {}),
  });
  clients.push(c);
  const ready = await c.ready();
  assert.equal(ready.source, 'server');
  return c;
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Evaluates every flag on every client, counting errors and answers that differ from `expected`. */
function evaluateAll(expected: Record<string, boolean>): {
  evaluations: number;
  errors: number;
  wrong: number;
} {
  let evaluations = 0;
  let errors = 0;
  let wrong = 0;
  for (const c of clients) {
    for (const key of FLAGS) {
      const detail = c.detail(key, 'boolean', { targetingKey: `u${evaluations}` }, !expected[key]);
      evaluations++;
      if (detail.errorCode !== undefined) errors++;
      else if (detail.value !== expected[key]) wrong++;
    }
  }
  return { evaluations, errors, wrong };
}

before(async () => {
  serverPort = await freePort();
  relayPort = await freePort();
  server = await startServer();
  for (const key of FLAGS) {
    await api('POST', '/api/v1/flags', {
      key,
      type: 'boolean',
      variations: { on: true, off: false },
      environments: { production: { enabled: true, offVariation: 'off', default: 'on' } },
    });
  }
  sdkKey = (
    await api('POST', '/api/v1/tokens', {
      name: 'eu-west relay',
      role: 'sdk-server',
      environments: ['production'],
    })
  ).token;
  relay = await startRelay();
});

after(async () => {
  for (const c of clients) await c.close();
  if (relay) await kill(relay.child);
  if (server) await kill(server.child);
  rmSync(dir, { recursive: true, force: true });
});

describe('delivery through faults, with real processes', () => {
  it('keeps every SDK, direct and behind a relay, answering with zero errors when the server is killed', async () => {
    await client(serverPort, join(dir, 'direct.cache'));
    await client(relayPort, join(dir, 'relayed.cache'));
    await setFlag('shop/cart/coupons', false);
    const expected = { 'shop/cart/express': true, 'shop/cart/coupons': false, 'shop/search/fuzzy': true };
    await until(() => evaluateAll(expected).wrong === 0, 'both SDKs see the change');

    await kill(server.child);
    let total = { evaluations: 0, errors: 0, wrong: 0 };
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const round = evaluateAll(expected);
      total = {
        evaluations: total.evaluations + round.evaluations,
        errors: total.errors + round.errors,
        wrong: total.wrong + round.wrong,
      };
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(total.evaluations > 100, `only ${total.evaluations} evaluations`);
    assert.deepEqual({ errors: total.errors, wrong: total.wrong }, { errors: 0, wrong: 0 });
    const readyz = (await (await fetch(`http://127.0.0.1:${relayPort}/readyz`)).json()) as {
      upstream: string;
    };
    assert.notEqual(readyz.upstream, 'closed');
  });

  it('serves from disk when the relay restarts with its upstream down', async () => {
    await kill(relay.child);
    relay = await startRelay();
    const fresh = await client(relayPort);
    assert.equal(fresh.boolean('shop/cart/coupons', {}, true), false);
    assert.equal(fresh.boolean('shop/search/fuzzy', {}, false), true);
    const snapshot = await fetch(`http://127.0.0.1:${relayPort}/sdk/v1/snapshot`, {
      headers: { authorization: `Bearer ${sdkKey}` },
    });
    assert.equal(snapshot.status, 200);
  });

  it('converges everywhere when the server is back', async () => {
    server = await startServer();
    await setFlag('shop/search/fuzzy', false);
    await setFlag('shop/cart/coupons', true);
    const expected = { 'shop/cart/express': true, 'shop/cart/coupons': true, 'shop/search/fuzzy': false };
    await until(() => {
      const round = evaluateAll(expected);
      return round.wrong === 0 && round.errors === 0;
    }, 'every SDK converges');
  });
});
