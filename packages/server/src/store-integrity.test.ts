/**
 * A store with a damaged record, served over real HTTP from real LMDB files: the namespace keeps being
 * listed, the damaged flag alone answers an error, writes to its namespace are refused (503), /readyz says
 * "degraded" with the detail, and the damage is counted in /metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlagStore, LmdbAdapter } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { bootstrap } from './governance/bootstrap.js';
import { callApi, damageOnDisk, listenOnLoopback } from './testing.js';

const flagDoc = (key: string, description?: string) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: {},
  ...(description === undefined ? {} : { description }),
});

describe('a store with a damaged record, over HTTP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-integrity-server-'));
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let admin: string;

  before(async () => {
    const writing = new FlagStore(new LmdbAdapter({ path: dir }));
    admin = (await bootstrap(writing)).adminToken!;
    for (const doc of [flagDoc('shop/web/intact'), flagDoc('shop/web/hit', 'the needle-on-disk')]) {
      await writing.flags.create(doc, { actor: 'test' });
    }
    await writing.close();
    // One byte of the flag's record (and of its ledger event) changes on disk; the JSON stays valid.
    damageOnDisk(dir, 'needle-on-disk');
    store = new FlagStore(new LmdbAdapter({ path: dir }));
    app = await buildServer({ store });
    base = await listenOnLoopback(app);
  });

  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists what verifies, refuses writes to the namespace, and says degraded on /readyz', async () => {
    const ready = await callApi(base, 'GET', '/readyz');
    assert.deepEqual(ready.body, { status: 'ready', store: 'lmdb' });

    const listed = await callApi(base, 'GET', '/api/v1/flags?prefix=shop/web/', { token: admin });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(
      listed.body.items.map((f: { key: string }) => f.key),
      ['shop/web/intact'],
    );
    const alone = await callApi(base, 'GET', `/api/v1/flags/${encodeURIComponent('shop/web/hit')}`, {
      token: admin,
    });
    assert.equal(alone.status, 503, `${alone.status} ${JSON.stringify(alone.body)}`);
    assert.match(alone.body.detail, /damaged|checksum/i);
    assert.equal(alone.type, 'application/problem+json');

    const write = await callApi(base, 'POST', '/api/v1/flags', {
      token: admin,
      body: flagDoc('shop/web/new'),
    });
    assert.equal(write.status, 503, JSON.stringify(write.body));
    assert.match(write.body.detail, /"shop\/web" is refused writes: record flag\/hit is damaged/);

    const degraded = await callApi(base, 'GET', '/readyz');
    assert.equal(degraded.status, 200);
    assert.equal(degraded.body.status, 'degraded');
    assert.match(degraded.body.detail, /shop\/web:flag\/hit: checksum mismatch/);
    assert.deepEqual(degraded.body.damagedNamespaces, ['shop/web']);
    const metrics = await callApi(base, 'GET', '/metrics');
    assert.match(metrics.text, /switchyard_store_damage_total\{kind="record"\} 1/);
  });
});
