/**
 * A store whose sensitive values were sealed with a key the server no longer holds: reading such a flag
 * is a clear 503 naming the problem, never a 500, and the rest of the store keeps serving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FlagStore, keyring, LmdbAdapter } from '@switchyard/store';
import { buildServer } from './app.js';
import { bootstrap } from './governance/bootstrap.js';
import { callApi, listenOnLoopback } from './testing.js';

const flag = (key: string, sensitive: boolean) => ({
  key,
  type: 'string',
  ...(sensitive ? { sensitive: true } : {}),
  variations: { on: 'secret-value-1', off: 'plain' },
  environments: {},
});

it('answers a flag sealed under a key the server lacks with 503, and serves the rest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sealed-keys-'));
  try {
    const first = new FlagStore(new LmdbAdapter({ path: dir }), {
      encryptionKeys: keyring([randomBytes(32)]),
    });
    const admin = (await bootstrap(first)).adminToken!;
    await first.flags.create(flag('vault/app/api-key', true), { actor: 'test' });
    await first.flags.create(flag('vault/app/plain', false), { actor: 'test' });
    await first.close();

    const store = new FlagStore(new LmdbAdapter({ path: dir }), {
      encryptionKeys: keyring([randomBytes(32)]),
    });
    const app = await buildServer({ store, rateLimits: false });
    try {
      const base = await listenOnLoopback(app);
      const sealed = await callApi(base, 'GET', `/api/v1/flags/${encodeURIComponent('vault/app/api-key')}`, {
        token: admin,
      });
      assert.equal(sealed.status, 503, sealed.text);
      assert.equal(sealed.type, 'application/problem+json');
      const plain = await callApi(base, 'GET', `/api/v1/flags/${encodeURIComponent('vault/app/plain')}`, {
        token: admin,
      });
      assert.equal(plain.status, 200, plain.text);
    } finally {
      await app.close();
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
