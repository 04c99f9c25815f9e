/**
 * A sensitive flag made on a real server (LMDB, with a keyring) reaches the relay's SDKs, and the relay's
 * data file never holds its value in plaintext.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { bootstrap, buildServer, newToken } from '@switchyard/server';
import { FlagStore, keyring, LmdbAdapter } from '@switchyard/store';
import { startRelay } from './relay.js';

const SECRET = 'sk-live-relay-31337';

it('seals a real server’s sensitive flag in its data file, and serves it to its SDKs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-sensitive-'));
  const store = new FlagStore(new LmdbAdapter({ path: join(dir, 'server') }), {
    encryptionKeys: keyring([randomBytes(32)]),
  });
  const server = await buildServer({ store, rateLimits: false });
  try {
    const admin = (await bootstrap(store)).adminToken!;
    const key = newToken('relay', 'sdk-server', { environments: ['production'] });
    await store.tokens.create(key.record, { actor: 'test' });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    const created = await fetch(`${base}/api/v1/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        key: 'vault/api/endpoint',
        type: 'string',
        sensitive: true,
        variations: { live: SECRET, none: 'none' },
        environments: { production: { enabled: true, offVariation: 'none', default: 'live' } },
      }),
    });
    assert.equal(created.status, 201, await created.text());

    const relay = await startRelay(
      {
        upstream: base,
        sdkKey: key.value,
        region: 'eu-west',
        data: join(dir, 'relay'),
        port: 0,
        host: '127.0.0.1',
        logLevel: false,
      },
      () => {},
    );
    const served = await fetch(`${relay.address}/sdk/v1/snapshot`, {
      headers: { authorization: `Bearer ${key.value}` },
    });
    assert.match(await served.text(), new RegExp(SECRET));
    await relay.close();

    const bytes = readFileSync(join(dir, 'relay', 'data.mdb'));
    assert.ok(bytes.includes('vault/api/endpoint'), 'the flag is in the data file');
    assert.equal(bytes.includes(SECRET), false, 'its sensitive value is not, in plaintext');
  } finally {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
