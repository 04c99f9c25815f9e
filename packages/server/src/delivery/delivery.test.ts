/**
 * Delivery over real HTTP: snapshots with ETags, the SSE stream with patches and resume, scopes of SDK
 * keys, and OFREP — against a server on LMDB on a loopback port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { FlagEngine } from '@switchyard/core';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken, type Role, type SdkRole } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';
import { openStream } from './testing.js';

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let store: FlagStore;
let base: string;
const keys: Record<string, string> = {};

const flag = (key: string, enabled = true, extra: Record<string, unknown> = {}) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: { production: { enabled, offVariation: 'off', default: 'on', ...extra } },
  ...(extra.tags ? {} : {}),
});

const api = (method: string, path: string, body?: unknown, token = keys.admin!) =>
  callApi(base, method, path, { token, ...(body === undefined ? {} : { body }) });

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  keys.admin = (await bootstrap(store)).adminToken!;
  const make = async (name: string, role: Role | SdkRole, scopes = {}) => {
    const { value, record } = newToken(name, role, scopes);
    await store.tokens.create(record, { actor: 'test' });
    keys[name] = value;
  };
  await make('server', 'sdk-server', { environments: ['production'] });
  await make('client', 'sdk-client', { environments: ['production'] });
  await make('scoped', 'sdk-server', { environments: ['production'], namespaces: ['shop/cart'] });
  await make('staging', 'sdk-server', { environments: ['staging'] });
  app = await buildServer({ store, rateLimits: false, delivery: { heartbeatMs: 200 } });
  base = await listenOnLoopback(app);
  for (const doc of [
    flag('shop/cart/one-click'),
    flag('shop/cart/dark', false),
    flag('shop/search/fuzzy'),
    flag('shop/search/requires-one-click', true, {
      prerequisites: [{ flag: 'shop/cart/one-click', variation: 'on' }],
    }),
  ]) {
    assert.equal((await api('POST', '/api/v1/flags', doc)).status, 201);
  }
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('the snapshot', () => {
  it('serves the selected namespaces in the core snapshot format, with an ETag and 304', async () => {
    const response = await fetch(`${base}/sdk/v1/snapshot?namespaces=shop/cart`, {
      headers: auth(keys.server!),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /vnd\.switchyard\.snapshot/);
    const bytes = Buffer.from(await response.arrayBuffer());
    const engine = FlagEngine.fromSnapshot(bytes);
    assert.equal(engine.environment, 'production');
    assert.deepEqual([...engine.flagKeys()].sort(), ['shop/cart/dark', 'shop/cart/one-click']);
    assert.equal(engine.evaluate('shop/cart/one-click', 'boolean', {}, false).value, true);
    assert.equal(engine.evaluate('shop/cart/dark', 'boolean', {}, true).value, false);
    const header = engine.snapshotHeader as unknown as { namespaces: Record<string, number> };
    assert.ok(header.namespaces['shop/cart']! >= 2);

    const etag = response.headers.get('etag')!;
    const again = await fetch(`${base}/sdk/v1/snapshot?namespaces=shop/cart`, {
      headers: { ...auth(keys.server!), 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
  });

  it('changes its ETag when a flag changes, and leaves archived flags out', async () => {
    const first = await fetch(`${base}/sdk/v1/snapshot?namespaces=shop`, { headers: auth(keys.server!) });
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    assert.equal((await api('POST', `${flagPath('shop/cart/dark')}/archive`)).status, 200);
    await waitFor(async () => {
      const next = await fetch(`${base}/sdk/v1/snapshot?namespaces=shop`, {
        headers: { ...auth(keys.server!), 'if-none-match': etag },
      });
      if (next.status !== 200) return false;
      const engine = FlagEngine.fromSnapshot(Buffer.from(await next.arrayBuffer()));
      return !engine.hasFlag('shop/cart/dark') && engine.hasFlag('shop/search/fuzzy');
    });
    assert.equal((await api('POST', `${flagPath('shop/cart/dark')}/restore`)).status, 200);
  });

  it('refuses client-side keys, other environments and namespaces outside a key’s scope', async () => {
    const get = (key: string, query = '') => fetch(`${base}/sdk/v1/snapshot${query}`, { headers: auth(key) });
    assert.equal((await get(keys.client!)).status, 403);
    assert.equal((await get(keys.server!, '?env=staging')).status, 403);
    assert.equal((await get(keys.scoped!, '?namespaces=shop/search')).status, 403);
    assert.equal((await get('sy_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status, 401);
    const bad = await get(keys.server!, '?namespaces=Not%20A%20Namespace');
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { detail: string }).detail, /namespaces/);
    const scoped = await get(keys.scoped!);
    assert.equal(scoped.status, 200);
    const engine = FlagEngine.fromSnapshot(Buffer.from(await scoped.arrayBuffer()));
    assert.deepEqual([...engine.flagKeys()].sort(), ['shop/cart/dark', 'shop/cart/one-click']);
  });
});

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the stream', () => {
  it('opens with a snapshot, then sends each change as a patch carrying namespace, seq and commit time', async () => {
    const stream = await openStream(`${base}/sdk/v1/stream?namespaces=shop/cart`, auth(keys.server!));
    try {
      assert.equal(stream.status, 200);
      const snapshot = await stream.nextOf('snapshot');
      const engine = FlagEngine.fromSnapshot(Buffer.from(`${snapshot.data}\n`));
      assert.ok(engine.hasFlag('shop/cart/one-click'));
      assert.match(snapshot.id ?? '', /^shop\/cart:\d+$/);

      const started = Date.now();
      assert.equal(
        (await api('POST', `${flagPath('shop/cart/one-click')}/environments/production/disable`)).status,
        200,
      );
      const patch = await stream.nextOf('patch');
      const [head, ...lines] = patch.data.split('\n');
      const meta = JSON.parse(head!);
      assert.equal(meta.namespace, 'shop/cart');
      assert.equal(meta.seq, Number(snapshot.id!.split(':')[1]) + 1);
      assert.ok(meta.committedAt >= started - 1000 && Date.parse(meta.time) === meta.committedAt);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^F shop\/cart\/one-click\t/);
      assert.equal(JSON.parse(lines[0]!.split('\t')[1]!).state.enabled, false);
      assert.equal(patch.id, `shop/cart:${meta.seq}`);
      await api('POST', `${flagPath('shop/cart/one-click')}/environments/production/enable`);
      const heartbeat = await stream.nextOf('heartbeat');
      assert.ok(JSON.parse(heartbeat.data).namespaces['shop/cart'] >= meta.seq + 1);
    } finally {
      stream.close();
    }
  });

  it('resumes from Last-Event-ID with only what changed since, and never sends an older state', async () => {
    const first = await openStream(`${base}/sdk/v1/stream?namespaces=shop`, auth(keys.server!));
    const snapshot = await first.nextOf('snapshot');
    first.close();
    const position = snapshot.id!;
    await api('PUT', `${flagPath('shop/search/fuzzy')}/environments/production`, undefined).catch(() => {});
    assert.equal(
      (await api('POST', `${flagPath('shop/search/fuzzy')}/environments/production/disable`)).status,
      200,
    );
    assert.equal((await api('POST', '/api/v1/flags', flag('shop/search/brand-new'))).status, 201);

    const resumed = await openStream(`${base}/sdk/v1/stream?namespaces=shop`, {
      ...auth(keys.server!),
      'last-event-id': position,
    });
    try {
      const patch = await resumed.next();
      assert.equal(patch.event, 'patch');
      const [head, ...lines] = patch.data.split('\n');
      assert.equal(JSON.parse(head!).namespace, 'shop/search');
      const keysSent = lines.map((l) => l.split('\t')[0]).sort();
      assert.deepEqual(keysSent, ['F shop/search/brand-new', 'F shop/search/fuzzy']);
    } finally {
      resumed.close();
    }
  });

  it('sends a snapshot of a namespace the resume position does not mention', async () => {
    const stream = await openStream(
      `${base}/sdk/v1/stream?namespaces=shop&since=shop/cart:1`,
      auth(keys.server!),
    );
    try {
      const events = [await stream.next(), await stream.next()];
      const kinds = events.map((e) => e.event).sort();
      assert.deepEqual(kinds, ['patch', 'snapshot']);
      const snapshot = events.find((e) => e.event === 'snapshot')!;
      const engine = FlagEngine.fromSnapshot(Buffer.from(snapshot.data));
      assert.ok(engine.hasFlag('shop/search/fuzzy'));
      assert.ok(!engine.hasFlag('shop/cart/one-click'));
    } finally {
      stream.close();
    }
  });

  it('resets a namespace whose resume position is beyond the ledger (a restored store)', async () => {
    const stream = await openStream(
      `${base}/sdk/v1/stream?namespaces=shop/cart&since=shop/cart:999999`,
      auth(keys.server!),
    );
    try {
      const snapshot = await stream.nextOf('snapshot');
      const header = JSON.parse(snapshot.data.split('\n')[0]!.slice('#switchyard-snapshot 1 '.length));
      assert.equal(header.reset, true);
      assert.equal(header.complete, false);
      assert.ok(header.namespaces['shop/cart'] < 999999);
    } finally {
      stream.close();
    }
  });

  it('adds a namespace created after the stream opened', async () => {
    const stream = await openStream(`${base}/sdk/v1/stream?namespaces=shop`, auth(keys.server!));
    try {
      await stream.nextOf('snapshot');
      assert.equal((await api('POST', '/api/v1/flags', flag('shop/checkout/express'))).status, 201);
      const added = await stream.nextOf('snapshot');
      const engine = FlagEngine.fromSnapshot(Buffer.from(added.data));
      assert.deepEqual([...engine.flagKeys()], ['shop/checkout/express']);
    } finally {
      stream.close();
    }
  });

  it('sends a namespace created after they opened to every stream of a group, the same event to each', async () => {
    const url = `${base}/sdk/v1/stream?namespaces=pair`;
    const streams = [await openStream(url, auth(keys.server!)), await openStream(url, auth(keys.server!))];
    try {
      for (const stream of streams) await stream.nextOf('snapshot');
      assert.equal((await api('POST', '/api/v1/flags', flag('pair/added/one'))).status, 201);
      const [first, second] = await Promise.all(streams.map((stream) => stream.nextOf('snapshot')));
      assert.deepEqual(second, first);
      const engine = FlagEngine.fromSnapshot(Buffer.from(first!.data));
      assert.deepEqual([...engine.flagKeys()], ['pair/added/one']);
    } finally {
      for (const stream of streams) stream.close();
    }
  });

  it('writes a snapshot far larger than its buffer limit to a slow reader as it drains', async () => {
    const documents = Array.from({ length: 3000 }, (_, i) => flag(`bulk/many/flag-${i}`, i % 2 === 0));
    assert.equal((await api('POST', '/api/v1/apply', { documents, dryRun: false })).status, 200);
    const tight = await buildServer({
      store,
      rateLimits: false,
      delivery: { limits: { maxBufferedBytes: 64 * 1024 } },
    });
    const url = await listenOnLoopback(tight);
    try {
      const response = await fetch(`${url}/sdk/v1/stream?namespaces=bulk`, { headers: auth(keys.server!) });
      await new Promise((resolve) => setTimeout(resolve, 300)); // let the server run into backpressure
      const reader = response.body!.getReader();
      let text = '';
      const decoder = new TextDecoder();
      const complete = () => {
        const start = text.indexOf('event: snapshot');
        return start !== -1 && text.indexOf('\n\n', start) !== -1;
      };
      while (!complete()) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await reader.cancel();
      assert.ok(text.length > 4 * 64 * 1024, `only ${text.length} bytes`);
      assert.equal(text.split('\n').filter((line) => line.startsWith('data: F bulk/many/')).length, 3000);
    } finally {
      await tight.close();
    }
  });

  it('takes the request in a POST body, for position vectors too long for a URL', async () => {
    const first = await openStream(`${base}/sdk/v1/stream?namespaces=shop/search`, auth(keys.server!));
    const position = (await first.nextOf('snapshot')).id!;
    first.close();
    await api('POST', `${flagPath('shop/search/fuzzy')}/environments/production/enable`);
    const padding = Array.from({ length: 800 }, (_, i) => `elsewhere/ns${i}:1`).join(',');
    const response = await fetch(`${base}/sdk/v1/stream`, {
      method: 'POST',
      headers: { ...auth(keys.server!), 'content-type': 'application/json' },
      body: JSON.stringify({ namespaces: 'shop/search', since: `${position},${padding}` }),
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('event: patch')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    assert.match(text, /data: F shop\/search\/fuzzy\t/);
  });

  it('rejects a malformed position vector with a 400 that says where', async () => {
    const response = await fetch(`${base}/sdk/v1/stream?since=nonsense`, { headers: auth(keys.server!) });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { detail: string }).detail, /^since: "nonsense"/);
  });
});

describe('OFREP', () => {
  const ofrep = (path: string, body: unknown, key = keys.client!, headers: Record<string, string> = {}) =>
    fetch(`${base}/ofrep/v1/evaluate/flags${path}`, {
      method: 'POST',
      headers: { ...auth(key), 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('evaluates one flag with a client-side key, with version and rule in metadata', async () => {
    const response = await ofrep('/shop%2Fsearch%2Ffuzzy', { context: { targetingKey: 'u1' } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.key, 'shop/search/fuzzy');
    assert.equal(typeof body.value, 'boolean');
    assert.equal(typeof (body.metadata as { version: number }).version, 'number');
  });

  it('follows prerequisites into other namespaces', async () => {
    await api('POST', `${flagPath('shop/cart/one-click')}/environments/production/enable`);
    const body = (await (await ofrep('/shop%2Fsearch%2Frequires-one-click', { context: {} })).json()) as {
      value: boolean;
      reason: string;
    };
    assert.equal(body.value, true);
  });

  it('answers 404 for an unknown flag, 400 for a bad context, 401 without a key', async () => {
    const missing = await ofrep('/shop%2Fcart%2Fnope', { context: {} });
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys((await missing.json()) as object).sort(), [
      'errorCode',
      'errorDetails',
      'key',
    ]);
    const badContext = await ofrep('/shop%2Fcart%2Fone-click', { context: [1, 2] });
    assert.equal(badContext.status, 400);
    assert.equal(((await badContext.json()) as { errorCode: string }).errorCode, 'INVALID_CONTEXT');
    const noKey = await fetch(`${base}/ofrep/v1/evaluate/flags/x`, { method: 'POST', body: '{}' });
    assert.equal(noKey.status, 401);
  });

  it('serves its configuration to OFREP providers, with an ETag', async () => {
    const response = await fetch(`${base}/ofrep/v1/configuration`, { headers: auth(keys.client!) });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { name: string; capabilities: Record<string, unknown> };
    assert.equal(body.name, 'switchyard');
    assert.ok(body.capabilities.cacheInvalidation);
    const again = await fetch(`${base}/ofrep/v1/configuration`, {
      headers: { ...auth(keys.client!), 'if-none-match': response.headers.get('etag')! },
    });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${base}/ofrep/v1/configuration`)).status, 401);
  });

  it('evaluates in bulk with an ETag and 304', async () => {
    const response = await ofrep('?namespaces=shop/cart', { context: { targetingKey: 'u1' } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { flags: { key: string }[] };
    assert.deepEqual(body.flags.map((f) => f.key).sort(), ['shop/cart/dark', 'shop/cart/one-click']);
    const etag = response.headers.get('etag')!;
    const again = await ofrep('?namespaces=shop/cart', { context: { targetingKey: 'u1' } }, keys.client!, {
      'if-none-match': etag,
    });
    assert.equal(again.status, 304);
    const otherContext = await ofrep(
      '?namespaces=shop/cart',
      { context: { targetingKey: 'u2' } },
      keys.client!,
      {
        'if-none-match': etag,
      },
    );
    assert.equal(otherContext.status, 200);
  });

  it('works with the official OpenFeature OFREP provider and server SDK', async () => {
    await OpenFeature.setProviderAndWait(
      'ofrep',
      new OFREPProvider({ baseUrl: base, headers: [['authorization', `Bearer ${keys.client}`]] }),
    );
    const client = OpenFeature.getClient('ofrep');
    const details = await client.getBooleanDetails('shop/search/fuzzy', true, { targetingKey: 'u9' });
    assert.equal(details.errorCode, undefined);
    assert.equal(typeof details.value, 'boolean');
    assert.equal(typeof details.flagMetadata.version, 'number');
    const missing = await client.getBooleanDetails('shop/search/missing', true, { targetingKey: 'u9' });
    assert.equal(missing.value, true);
    assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
    await OpenFeature.close();
  });

  it('answers 429 with Retry-After beyond a key’s evaluation rate', async () => {
    const limited = await buildServer({ store, rateLimits: false, delivery: { evaluationsPerSecond: 1 } });
    const url = await listenOnLoopback(limited);
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 4; i++) {
        const response = await fetch(`${url}/ofrep/v1/evaluate/flags/shop/search/fuzzy`, {
          method: 'POST',
          headers: { ...auth(keys.client!), 'content-type': 'application/json' },
          body: '{"context":{}}',
        });
        statuses.push(response.status);
        if (response.status === 429) retryAfter = response.headers.get('retry-after');
        await response.arrayBuffer();
      }
      assert.deepEqual(statuses, [200, 200, 429, 429]);
      assert.ok(Number(retryAfter) >= 1);
    } finally {
      await limited.close();
    }
  });
});
