/**
 * Delivery's limits against a real server on LMDB: the stream authenticates before reading a body; streams
 * are capped per key and in all; a stream that does not read is closed past its unsent-bytes limit; views
 * are bounded; an environment that does not exist is a 404.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';
import { DELIVERY_LIMITS, type DeliveryLimits } from './mount.js';
import { type OpenStream, openStream } from './testing.js';

let temp: ReturnType<typeof temporaryStore>;
let store: FlagStore;
let admin: string;
const keys: Record<string, string> = {};
const servers: FastifyInstance[] = [];

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

const flag = (key: string, variations: Record<string, unknown> = { on: true, off: false }) => ({
  key,
  type: Object.values(variations).every((v) => typeof v === 'boolean') ? 'boolean' : 'json',
  variations,
  environments: {
    production: {
      enabled: true,
      offVariation: Object.keys(variations)[1],
      default: Object.keys(variations)[0],
    },
  },
});

async function server(limits: Partial<DeliveryLimits> = {}): Promise<string> {
  const app = await buildServer({ store, rateLimits: false, delivery: { heartbeatMs: 200, limits } });
  servers.push(app);
  return listenOnLoopback(app);
}

/** Waits (bounded) until `check` holds, asking again as soon as the last answer came. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A gauge of the server's /metrics, by its name and labels as written there. */
async function metric(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const STREAMS = 'switchyard_stream_connections{region="central",kind="stream"}';
const VIEWS = 'switchyard_delivery_views{region="central"}';

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  admin = (await bootstrap(store)).adminToken!;
  for (const name of ['a', 'b', 'c']) {
    const { value, record } = newToken(name, 'sdk-server', { environments: ['production'] });
    await store.tokens.create(record, { actor: 'test' });
    keys[name] = value;
  }
  const base = await server();
  for (let i = 0; i < 12; i++) {
    const created = await callApi(base, 'POST', '/api/v1/flags', {
      token: admin,
      body: flag(`many/ns${i}/f`),
    });
    assert.equal(created.status, 201, created.text);
  }
});

after(async () => {
  for (const app of servers) await app.close();
  await temp.remove();
});

describe('the stream’s request', () => {
  it('refuses POST /sdk/v1/stream without a key before the client has sent its body', async () => {
    const base = await server();
    const { port } = new URL(base);
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/sdk/v1/stream',
        headers: { 'content-type': 'application/json', 'content-length': String(4 * 1024 * 1024) },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      });
      request.on('error', (error) => {
        if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
      });
      // A few bytes of 4 MiB announced: the answer must not wait for the rest.
      request.write('{"namespaces":"');
      setTimeout(() => reject(new Error('no answer before the body was sent')), 5000).unref();
    });
    assert.equal(status, 401);
  });

  it('applies the body limit to a caller with a key: 413 past 4 MiB', async () => {
    const base = await server();
    const response = await fetch(`${base}/sdk/v1/stream`, {
      method: 'POST',
      headers: { ...auth(keys.a!), 'content-type': 'application/json' },
      body: JSON.stringify({ since: 'x'.repeat(5 * 1024 * 1024) }),
    });
    assert.equal(response.status, 413);
    await response.body?.cancel();
  });
});

describe('stream caps', () => {
  it('answers 429 past a key’s streams and 503 past the server’s, with Retry-After, and admits again', async () => {
    const base = await server({ maxStreamsPerKey: 2, maxStreams: 3 });
    const url = `${base}/sdk/v1/stream?namespaces=many/ns0`;
    const open: OpenStream[] = [];
    try {
      open.push(await openStream(url, auth(keys.a!)), await openStream(url, auth(keys.a!)));
      for (const stream of open) assert.equal(stream.status, 200);
      const perKey = await fetch(url, { headers: auth(keys.a!) });
      assert.equal(perKey.status, 429);
      assert.ok(Number(perKey.headers.get('retry-after')) >= 1);
      assert.match(((await perKey.json()) as { detail: string }).detail, /streams open/);
      open.push(await openStream(url, auth(keys.b!)));
      assert.equal(open[2]!.status, 200);
      const inAll = await fetch(url, { headers: auth(keys.c!) });
      assert.equal(inAll.status, 503);
      assert.ok(Number(inAll.headers.get('retry-after')) >= 1);
      await inAll.body?.cancel();
      open.shift()!.close();
      await until('a stream is admitted again', 5000, async () => (await metric(base, STREAMS)) === 2);
      open.push(await openStream(url, auth(keys.c!)));
      assert.equal(open[open.length - 1]!.status, 200);
    } finally {
      for (const stream of open) stream.close();
    }
  });
});

/**
 * Opens a stream that reads and one that never reads a byte, then changes a ~600 KB flag until the server
 * closes the one that does not read (bounded); the reader still gets the next change.
 */
async function slowReaderClosed(limits: Partial<DeliveryLimits>, namespace: string): Promise<void> {
  // 20 JSON variations of ~30 KB: every change of the flag is a patch of ~600 KB.
  const big = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`v${i}`, { text: `${i}${'x'.repeat(30_000)}` }]),
  );
  const base = await server(limits);
  const created = await callApi(base, 'POST', '/api/v1/flags', {
    token: admin,
    body: flag(`${namespace}/big/flag`, big),
  });
  assert.equal(created.status, 201, created.text);
  const reader = await openStream(`${base}/sdk/v1/stream?namespaces=${namespace}`, auth(keys.a!));
  await reader.nextOf('snapshot');
  // A client that sends its request and never reads a byte of the answer.
  const { port } = new URL(base);
  const socket = connect(Number(port), '127.0.0.1');
  socket.write(
    `GET /sdk/v1/stream?namespaces=${namespace} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${keys.b}\r\n\r\n`,
  );
  try {
    await until('both streams are open', 5000, async () => (await metric(base, STREAMS)) === 2);
    const path = `/api/v1/flags/${namespace}%2Fbig%2Fflag/environments/production`;
    for (let i = 0; (await metric(base, STREAMS)) === 2; i++) {
      assert.ok(i < 200, 'the stream that never reads is still open after 200 changes (~120 MB)');
      const action = i % 2 === 0 ? 'disable' : 'enable';
      assert.equal((await callApi(base, 'POST', `${path}/${action}`, { token: admin })).status, 200);
    }
    assert.equal(await metric(base, STREAMS), 1);
    // The reader is live: it gets the next change.
    assert.equal((await callApi(base, 'POST', `${path}/enable`, { token: admin })).status, 200);
    await callApi(base, 'POST', `${path}/disable`, { token: admin });
    await reader.nextOf('patch', 5000);
  } finally {
    socket.destroy();
    reader.close();
  }
}

describe('unsent bytes', () => {
  it('closes a stream that never reads once its unsent bytes pass its limit, and keeps a reading one', async () => {
    assert.ok(DELIVERY_LIMITS.maxBufferedBytes <= 8 * 1024 * 1024, 'the default is far below 64 MiB');
    await slowReaderClosed({ maxBufferedBytes: 256 * 1024 }, 'heavy');
  });

  it('closes a stream that never reads once the unsent bytes of all streams pass the limit of all', async () => {
    await slowReaderClosed(
      { maxBufferedBytes: 64 * 1024 * 1024, maxTotalBufferedBytes: 256 * 1024 },
      'weighty',
    );
  });
});

describe('views and environments', () => {
  it('answers 404 to 3,000 made-up environments, and holds no view for them', async () => {
    const base = await server();
    const before = await metric(base, VIEWS);
    const paths = (i: number) => [
      [`/sdk/v1/snapshot?env=made-up-${i}`, 'GET'],
      [`/ofrep/v1/evaluate/flags?env=made-up-${i}`, 'POST'],
      [`/ofrep/v1/evaluate/flags/many%2Fns0%2Ff?env=made-up-${i}`, 'POST'],
    ];
    for (let i = 0; i < 3000; i += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const [path, method] = paths(i + j)[(i + j) % 3]!;
          return callApi(base, method!, path!, { token: admin, ...(method === 'POST' ? { body: {} } : {}) });
        }),
      );
      for (const answer of answers) {
        assert.equal(answer.status, 404, answer.text);
        assert.equal(answer.type, 'application/problem+json');
        assert.match(answer.body.detail, /environment "made-up-\d+" does not exist/);
      }
    }
    assert.equal(await metric(base, VIEWS), before);
  });

  it('keeps at most maxIdleViews views no stream holds, and keeps a stream’s view current', async () => {
    const base = await server({ maxIdleViews: 4 });
    const stream = await openStream(`${base}/sdk/v1/stream?namespaces=many/ns0`, auth(keys.a!));
    try {
      await stream.nextOf('snapshot');
      for (let i = 1; i < 12; i++) {
        const response = await fetch(`${base}/sdk/v1/snapshot?namespaces=many/ns${i}`, {
          headers: auth(keys.a!),
        });
        assert.equal(response.status, 200);
        await response.arrayBuffer();
      }
      assert.ok((await metric(base, VIEWS)) <= 5, `${await metric(base, VIEWS)} views`);
      const path = '/api/v1/flags/many%2Fns0%2Ff/environments/production/disable';
      assert.equal((await callApi(base, 'POST', path, { token: admin })).status, 200);
      const patch = await stream.nextOf('patch', 5000);
      assert.match(patch.data, /many\/ns0\/f/);
    } finally {
      stream.close();
    }
  });
});
