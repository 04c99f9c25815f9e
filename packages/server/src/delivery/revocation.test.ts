/**
 * Open streams of a key that stops being valid end: revoked through the API, or past its expiry. Keys are
 * checked again once per interval per key (however many streams it holds), against a real server on LMDB.
 */
import assert from 'node:assert/strict';
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

  it('ends the stream of a key within 5 s of its expiry', async () => {
    const expiresAt = Date.now() + 1500;
    const key = await newKey({ expiresAt: new Date(expiresAt).toISOString() });
    const stream = await openStream(`${base}/sdk/v1/stream?namespaces=shop`, auth(key.token));
    try {
      assert.equal(stream.status, 200);
      await stream.nextOf('snapshot');
      const at = await ended(stream, expiresAt - Date.now() + 5000);
      assert.ok(at - expiresAt < 5000, `ended ${at - expiresAt} ms after the expiry`);
    } finally {
      stream.close();
    }
  });
});
