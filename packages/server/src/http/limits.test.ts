/**
 * The server's limits on time, connections and bodies, against a real server with short limits: a
 * client that stalls is cut off, connections beyond the cap are refused, and bodies are limited per
 * route only once the caller is known.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import {
  answerBeforeBody,
  callApi,
  listenOnLoopback,
  rawConnection,
  temporaryStore,
  within,
} from '../testing.js';
import type { httpLimits } from './limits.js';

let temp: ReturnType<typeof temporaryStore>;
let store: FlagStore;
let admin: string;
let editor: string;

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  admin = (await bootstrap(store)).adminToken!;
  const { value, record } = newToken('editor', 'editor');
  await store.tokens.create(record, { actor: 'test' });
  editor = value;
});
after(async () => temp.remove());

async function serverWith(limits: Parameters<typeof httpLimits>[0]) {
  const app = await buildServer({ store, rateLimits: false, limits });
  return { app, base: await listenOnLoopback(app) };
}

const flag = (key: string, description = '') => ({
  key,
  type: 'boolean',
  description,
  variations: { on: true, off: false },
  environments: { development: { enabled: false, offVariation: 'off', default: 'on' } },
});

describe('timeouts', () => {
  let app: FastifyInstance;
  let base: string;
  before(async () => {
    ({ app, base } = await serverWith({
      headersTimeoutMs: 200,
      requestTimeoutMs: 400,
      keepAliveTimeoutMs: 200,
    }));
  });
  after(async () => app.close());

  it('cuts off a client that never finishes its headers', async () => {
    const connection = await rawConnection(base);
    connection.socket.write('POST /api/v1/flags HTTP/1.1\r\nHost: test\r\n');
    await within(connection.closed, 10_000, 'the server closing a connection with unfinished headers');
  });

  it('cuts off an authenticated client that trickles its body', async () => {
    const connection = await rawConnection(base);
    connection.socket.write(
      `POST /api/v1/flags HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${editor}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"key":',
    );
    let answer = '';
    connection.socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    await within(connection.closed, 10_000, 'the server closing a connection with a trickling body');
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it('closes a keep-alive connection left idle after its answer', async () => {
    const connection = await rawConnection(base);
    assert.match(await connection.get('/healthz'), / 200 /);
    await within(connection.closed, 10_000, 'the server closing an idle keep-alive connection');
  });

  it('refuses limits that are not positive integers', async () => {
    await assert.rejects(
      buildServer({ store, limits: { requestTimeoutMs: 0 } }),
      /limits.requestTimeoutMs must be a positive integer/,
    );
  });
});

describe('connections', () => {
  it('refuses connections beyond the cap and keeps serving the open ones', async () => {
    const { app, base } = await serverWith({ maxConnections: 2 });
    try {
      const first = await rawConnection(base);
      const second = await rawConnection(base);
      // Answered: the server has accepted both.
      assert.match(await first.get('/healthz'), / 200 /);
      assert.match(await second.get('/healthz'), / 200 /);
      const third = await rawConnection(base);
      await within(third.closed, 10_000, 'the server refusing a third connection');
      assert.match(await first.get('/healthz'), / 200 /);
      first.socket.destroy();
      second.socket.destroy();
    } finally {
      await app.close();
    }
  });
});

describe('body limits', () => {
  let app: FastifyInstance;
  let base: string;
  before(async () => {
    ({ app, base } = await serverWith({ bodyBytes: 4096, applyBodyBytes: 64 * 1024 }));
  });
  after(async () => app.close());

  it('refuses a body over the route limit with 413, and lets apply take more', async () => {
    const large = flag('limits/body/large', 'x'.repeat(5000));
    const refused = await callApi(base, 'POST', '/api/v1/flags', { token: editor, body: large });
    assert.equal(refused.status, 413);
    assert.equal(refused.type, 'application/problem+json');
    const documents = (count: number) =>
      Array.from({ length: count }, (_, i) => flag(`limits/body/f${i}`, 'x'.repeat(3000)));
    const planned = await callApi(base, 'POST', '/api/v1/apply', {
      token: editor,
      body: { dryRun: true, documents: documents(2) },
    });
    assert.equal(planned.status, 200, planned.text);
    const tooMany = documents(30);
    const over = await callApi(base, 'POST', '/api/v1/apply', {
      token: admin,
      body: { dryRun: true, documents: tooMany },
    });
    assert.equal(over.status, 413);
  });

  it('answers an unauthenticated body larger than any limit with 401, before reading it', async () => {
    const answer = await answerBeforeBody(base, 'POST', '/api/v1/apply', {
      declaredBytes: 1024 * 1024 * 1024,
      sentBytes: 16 * 1024,
    });
    assert.equal(answer.status, 401);
    await within(answer.closed, 5000, 'the server closing the connection');
  });
});
