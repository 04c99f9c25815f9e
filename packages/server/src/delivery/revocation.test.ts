/**
 * Open streams of a key that stops being valid end: revoked through the API, or past its expiry. Keys are
 * checked again once per interval per key (however many streams it holds), against a real server on LMDB.
 */
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';
import { type OpenStream, openStream } from './testing.js';

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let store: FlagStore;
let base: string;
let admin: string;

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

/** A new sdk-server key for production, made through the API. */
async function newKey(extra: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
  const created = await callApi(base, 'POST', '/api/v1/tokens', {
    token: admin,
    body: { name: 'streamer', role: 'sdk-server', environments: ['production'], ...extra },
  });
  assert.equal(created.status, 201, created.text);
  return { id: created.body.id, token: created.body.token };
}

/** Resolves with the time the stream ended; rejects if it is still open after `timeoutMs`. */
async function ended(stream: OpenStream, timeoutMs: number): Promise<number> {
  try {
    // Heartbeats are skipped: only the end of the stream (or the time limit) stops this.
    await stream.nextOf('never-sent', timeoutMs);
  } catch (error) {
    if ((error as Error).message === 'the stream ended') return Date.now();
    throw error;
  }
  throw new Error('unreachable');
}

/**
 * A stream read over a keep-alive connection (as an SDK's HTTP client keeps it): `closed` resolves with
 * the time the connection itself closed, or rejects if it is still open after `timeoutMs`.
 */
interface Connection {
  closed(timeoutMs: number): Promise<number>;
  close(): void;
}

async function openConnection(url: string, headers: Record<string, string>): Promise<Connection> {
  const agent = new Agent({ keepAlive: true });
  const request = get(url, { headers, agent });
  const socket = await new Promise<import('node:net').Socket>((resolve) => request.once('socket', resolve));
  let closedAt: number | undefined;
  const closing = new Promise<number>((resolve) =>
    socket.once('close', () => {
      closedAt = Date.now();
      resolve(closedAt);
    }),
  );
  // The stream is open once its snapshot arrived.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no snapshot within 5000 ms')), 5000);
    request.once('error', reject);
    request.once('response', (response) => {
      assert.equal(response.statusCode, 200);
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('event: snapshot')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  });
  return {
    closed: (timeoutMs) =>
      closedAt !== undefined
        ? Promise.resolve(closedAt)
        : new Promise<number>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`the connection is still open after ${timeoutMs} ms`)),
              timeoutMs,
            );
            void closing.then((at) => {
              clearTimeout(timer);
              resolve(at);
            });
          }),
    close: () => {
      request.destroy();
      agent.destroy();
    },
  };
}

before(async () => {
  temp = temporaryStore();
  store = temp.store;
  admin = (await bootstrap(store)).adminToken!;
  // Default key checks (every 2 s); a short auth cache, as a server would run with its default 5 s.
  app = await buildServer({ store, rateLimits: false, delivery: { heartbeatMs: 200 } });
  base = await listenOnLoopback(app);
  const flag = {
    key: 'shop/cart/one-click',
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { production: { enabled: true, offVariation: 'off', default: 'on' } },
  };
  assert.equal((await callApi(base, 'POST', '/api/v1/flags', { token: admin, body: flag })).status, 201);
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('streams of keys that stop being valid', () => {
  it('ends every open stream of a key within 5 s of its revocation through the API', async () => {
    const key = await newKey();
    const url = `${base}/sdk/v1/stream?namespaces=shop`;
    const streams = [await openStream(url, auth(key.token)), await openStream(url, auth(key.token))];
    const other = await openStream(url, auth((await newKey()).token));
    try {
      for (const stream of [...streams, other]) await stream.nextOf('snapshot');
      const revoked = await callApi(base, 'DELETE', `/api/v1/tokens/${key.id}`, { token: admin });
      assert.equal(revoked.status, 204, revoked.text);
      const revokedAt = Date.now();
      const ends = await Promise.all(streams.map((stream) => ended(stream, 5000)));
      for (const at of ends) assert.ok(at - revokedAt < 5000, `ended after ${at - revokedAt} ms`);
      // Another key's stream is untouched: it keeps receiving heartbeats.
      await other.nextOf('heartbeat', 2000);
      await other.nextOf('heartbeat', 2000);
    } finally {
      for (const stream of [...streams, other]) stream.close();
    }
  });

  it('closes the connection of a revoked key’s stream within 5 s, not only the stream', async () => {
    const key = await newKey();
    const connection = await openConnection(`${base}/sdk/v1/stream?namespaces=shop`, auth(key.token));
    try {
      const revoked = await callApi(base, 'DELETE', `/api/v1/tokens/${key.id}`, { token: admin });
      assert.equal(revoked.status, 204, revoked.text);
      const revokedAt = Date.now();
      const closedAt = await connection.closed(5000);
      assert.ok(closedAt - revokedAt < 5000, `closed after ${closedAt - revokedAt} ms`);
    } finally {
      connection.close();
    }
  });

  it('ends the stream of a key within 5 s of its expiry', async () => {
    const expiresAt = Date.now() + 1500;
    const key = await newKey({ expiresAt: new Date(expiresAt).toISOString() });
    const stream = await openStream(`${base}/sdk/v1/stream?namespaces=shop`, auth(key.token));
    const connection = await openConnection(`${base}/sdk/v1/stream?namespaces=shop`, auth(key.token));
    try {
      assert.equal(stream.status, 200);
      await stream.nextOf('snapshot');
      const at = await ended(stream, expiresAt - Date.now() + 5000);
      assert.ok(at - expiresAt < 5000, `ended ${at - expiresAt} ms after the expiry`);
      // The connection itself closes too, not only the stream on it.
      const closedAt = await connection.closed(Math.max(1, expiresAt - Date.now() + 5000));
      assert.ok(closedAt - expiresAt < 5000, `closed ${closedAt - expiresAt} ms after the expiry`);
    } finally {
      stream.close();
      connection.close();
    }
  });
});
