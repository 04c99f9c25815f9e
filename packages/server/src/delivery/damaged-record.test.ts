/**
 * Delivery from a store with one damaged record (real LMDB files changed on disk, a real server): the
 * record is left out and reported, everything else of its namespace and of every other namespace is
 * served and evaluated, the damaged flag alone answers a clear error that names no internal record path,
 * and /readyz says "degraded".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlagEngine } from '@switchyard/core';
import { FlagStore, LmdbAdapter } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, damageOnDisk, listenOnLoopback } from '../testing.js';

const flagDoc = (key: string, description?: string) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: { production: { enabled: true, offVariation: 'off', default: 'on' } },
  ...(description === undefined ? {} : { description }),
});

describe('delivery from a store with a damaged record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-delivery-damaged-'));
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let sdkKey: string;

  const evaluate = (key: string) =>
    fetch(`${base}/ofrep/v1/evaluate/flags/${key}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'user-1' } }),
    });

  before(async () => {
    const writing = new FlagStore(new LmdbAdapter({ path: dir }));
    await bootstrap(writing);
    const { value, record } = newToken('server', 'sdk-server', { environments: ['production'] });
    await writing.tokens.create(record, { actor: 'test' });
    sdkKey = value;
    for (const doc of [
      flagDoc('shop/web/intact'),
      flagDoc('shop/web/hit', 'the needle-on-disk'),
      flagDoc('shop/api/other'),
    ]) {
      await writing.flags.create(doc, { actor: 'test' });
    }
    await writing.close();
    // One byte of the flag's record (and of its ledger event) changes on disk; the JSON stays valid.
    damageOnDisk(dir, 'needle-on-disk');
    store = new FlagStore(new LmdbAdapter({ path: dir }));
    app = await buildServer({ store, rateLimits: false });
    base = await listenOnLoopback(app);
  });

  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the snapshot of every namespace without the damaged flag', async () => {
    const response = await fetch(`${base}/sdk/v1/snapshot?env=production`, {
      headers: { authorization: `Bearer ${sdkKey}` },
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(response.status, 200, bytes.toString('utf8'));
    const engine = FlagEngine.fromSnapshot(bytes);
    assert.deepEqual([...engine.flagKeys()].sort(), ['shop/api/other', 'shop/web/intact']);
  });

  it('evaluates the undamaged flags in bulk and one by one', async () => {
    const bulk = await fetch(`${base}/ofrep/v1/evaluate/flags?env=production`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'user-1' } }),
    });
    const body = (await bulk.json()) as { flags: { key: string; value: unknown }[] };
    assert.equal(bulk.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.flags.map((f) => [f.key, f.value]),
      [
        ['shop/api/other', true],
        ['shop/web/intact', true],
      ],
    );
    for (const key of ['shop/web/intact', 'shop/api/other']) {
      const one = await evaluate(key);
      const result = (await one.json()) as { value: unknown };
      assert.equal(one.status, 200, JSON.stringify(result));
      assert.equal(result.value, true);
    }
  });

  it('answers the damaged flag with a clear error that names no record path', async () => {
    const response = await evaluate('shop/web/hit');
    const text = await response.text();
    assert.equal(response.status, 503, text);
    assert.match(text, /damaged/);
    assert.match(text, /\/readyz/);
    assert.doesNotMatch(text, /flag\/hit|state\/production|shop\/web:/);
  });

  it('reports the damage: /readyz says degraded and the metric counts it', async () => {
    const ready = await callApi(base, 'GET', '/readyz');
    assert.equal(ready.body.status, 'degraded');
    assert.match(ready.body.detail, /shop\/web:flag\/hit: checksum mismatch/);
    const metrics = await callApi(base, 'GET', '/metrics');
    assert.match(metrics.text, /switchyard_store_damage_total\{kind="record"\} 1/);
  });
});
