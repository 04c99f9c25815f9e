/**
 * The client against a real server (LMDB on a loopback port): flags are made through the REST API and
 * reach the client through the snapshot and the stream.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeSnapshot, type FlagRecord } from '@switchyard/core';
import { keyring } from '@switchyard/store';
import { bannerFlag, booleanFlag, eventually, flagPath, startServer, type TestServer } from '../testing.js';
import { type ChangeEvent, type ClientOptions, createClient, type SwitchyardClient } from './client.js';

const FAST = { initialRetryMs: 20, maxRetryMs: 200 };

let server: TestServer;
let sdkKey: string;
let dir: string;
const clients: SwitchyardClient[] = [];

function client(options: Partial<ClientOptions> = {}): SwitchyardClient {
  const made = createClient({
    url: server.url,
    sdkKey,
    environment: 'development',
    events: false,
    connection: FAST,
    ...options,
  });
  clients.push(made);
  return made;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-sdk-client-'));
  server = await startServer();
  sdkKey = await server.sdkKey('development');
  await server.api('POST', '/api/v1/flags', booleanFlag('shop/cart/express'));
  await server.api('POST', '/api/v1/flags', bannerFlag);
  await server.api('POST', '/api/v1/flags', booleanFlag('search/ranking/v2'));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('client', () => {
  it('becomes ready with the server data and evaluates synchronously', async () => {
    const c = client();
    assert.deepEqual(await c.ready(), { source: 'server' });
    assert.equal(c.status, 'ready');
    assert.equal(c.boolean('shop/cart/express', {}, false), true);
    assert.equal(
      c.string('shop/cart/banner', { targetingKey: 'u1', email: 'a@example.com' }, 'x'),
      'Sale today',
    );
    const detail = c.detail('shop/cart/banner', { targetingKey: 'u1', email: 'a@example.com' }, 'x');
    assert.equal(detail.variant, 'sale');
    assert.equal(detail.reason, 'TARGETING_MATCH');
    assert.equal(detail.ruleId, 'staff');
    assert.equal(detail.version, 1);
    assert.equal(detail.errorCode, undefined);
    const missing = c.detail('shop/cart/nothing', 'number', {}, 7);
    assert.deepEqual([missing.value, missing.errorCode], [7, 'FLAG_NOT_FOUND']);
    assert.equal(c.detail('shop/cart/express', 'string', {}, 'no').errorCode, 'TYPE_MISMATCH');
  });

  it('receives a change made through the API and says which flags changed', async () => {
    const c = client({ namespaces: ['shop'] });
    await c.ready();
    assert.equal(c.boolean('search/ranking/v2', {}, false), false, 'outside the selection');
    const changes: ChangeEvent[] = [];
    c.on('change', (event) => changes.push(event));
    await server.api('POST', `${flagPath('shop/cart/express')}/environments/development/disable`);
    await eventually(() => changes.length > 0, 5000, 'a change event');
    const { committedAt, lagMs, ...change } = changes[0]!;
    assert.deepEqual(change, { flags: ['shop/cart/express'], segments: [], source: 'server' });
    assert.ok(typeof committedAt === 'number' && typeof lagMs === 'number' && lagMs >= 0 && lagMs < 5000);
    assert.equal(c.boolean('shop/cart/express', {}, true), false);
    assert.equal(c.detail('shop/cart/express', {}, true).version, 2);
    await server.api('POST', `${flagPath('shop/cart/express')}/environments/development/enable`);
    await eventually(() => c.boolean('shop/cart/express', {}, false), 5000, 'the flag back on');
  });

  it('follows segments, and removes archived flags', async () => {
    await server.api('POST', '/api/v1/segments', {
      kind: 'segment',
      key: 'shop/people/staff',
      environments: { development: { included: ['ann'] } },
    });
    await server.api(
      'POST',
      '/api/v1/flags',
      booleanFlag('shop/cart/staff-only', {
        rules: [
          {
            id: 'staff',
            when: [{ op: 'inSegment', values: ['shop/people/staff'] }],
            serve: 'on',
          },
        ],
        default: 'off',
      }),
    );
    const c = client({ namespaces: ['shop'] });
    await c.ready();
    assert.equal(c.boolean('shop/cart/staff-only', { targetingKey: 'bob' }, true), false);
    const changes: ChangeEvent[] = [];
    c.on('change', (event) => changes.push(event));
    await server.api(
      'PUT',
      '/api/v1/segments/shop%2Fpeople%2Fstaff/environments/development',
      { included: ['ann', 'bob'] },
      { 'if-match': '1' },
    );
    await eventually(
      () => c.boolean('shop/cart/staff-only', { targetingKey: 'bob' }, false),
      5000,
      'bob in staff',
    );
    assert.deepEqual(
      { flags: changes[0]!.flags, segments: changes[0]!.segments, source: changes[0]!.source },
      { flags: [], segments: ['shop/people/staff'], source: 'server' },
    );
    await server.api('POST', `${flagPath('shop/cart/staff-only')}/archive`);
    await eventually(() => changes.length === 2, 5000, 'the archival');
    assert.deepEqual(changes[1]!.flags, ['shop/cart/staff-only']);
    assert.equal(c.detail('shop/cart/staff-only', {}, false).errorCode, 'FLAG_NOT_FOUND');
  });

  it('follows changes by polling when streaming is off', async () => {
    const c = client({ streaming: false, pollIntervalMs: 50 });
    await c.ready();
    await server.api('POST', '/api/v1/flags', booleanFlag('shop/cart/polled'));
    await eventually(() => c.boolean('shop/cart/polled', {}, false), 5000, 'the new flag');
  });

  it('serves the defaults map, then the call default, before it ever had data', async () => {
    const c = client({
      url: 'http://127.0.0.1:9', // nothing listens on the discard port
      readyTimeoutMs: 200,
      defaults: { 'shop/cart/express': true, 'shop/cart/banner': 42 },
    });
    const ready = await c.ready();
    assert.equal(ready.source, 'defaults');
    assert.ok(ready.error instanceof Error);
    assert.equal(c.status, 'error');
    assert.equal(c.boolean('shop/cart/express', {}, false), true);
    assert.equal(
      c.string('shop/cart/banner', {}, 'call default'),
      'call default',
      'a default of another type',
    );
    assert.equal(c.detail('shop/cart/express', {}, false).errorCode, 'PROVIDER_NOT_READY');
  });
});

describe('client without its server', () => {
  let own: TestServer;
  let ownKey: string;
  const cacheFile = () => join(dir, 'flags.snapshot');

  before(async () => {
    own = await startServer();
    ownKey = await own.sdkKey('development');
    await own.api('POST', '/api/v1/flags', booleanFlag('shop/cart/express'));
    await own.api('POST', '/api/v1/flags', booleanFlag('shop/cart/dark', { enabled: false }));
  });
  after(() => own.remove());

  it('keeps answering from memory when the server goes away, and writes the cache file', async () => {
    const c = client({ url: own.url, sdkKey: ownKey, cacheFile: cacheFile(), cacheWriteDelayMs: 10 });
    await c.ready();
    const statuses: string[] = [];
    c.on('status', (event) => statuses.push(event.status));
    await own.stop();
    await eventually(() => c.status === 'stale', 5000, 'the stale status');
    let errors = 0;
    for (let i = 0; i < 1000; i++) {
      const on = c.detail('shop/cart/express', { targetingKey: `u${i}` }, false);
      const off = c.detail('shop/cart/dark', { targetingKey: `u${i}` }, true);
      if (
        on.errorCode !== undefined ||
        off.errorCode !== undefined ||
        on.value !== true ||
        off.value !== false
      )
        errors++;
    }
    assert.equal(errors, 0);
    assert.deepEqual(statuses, ['stale']);
    await c.close();
  });

  it('starts from the cache file when the server cannot be reached', async () => {
    const started = Date.now();
    const c = client({ url: own.url, sdkKey: ownKey, cacheFile: cacheFile(), readyTimeoutMs: 10_000 });
    assert.equal((await c.ready()).source, 'cache');
    assert.ok(Date.now() - started < 5000, 'without waiting for the timeout');
    assert.equal(c.status, 'stale');
    assert.equal(c.boolean('shop/cart/express', {}, false), true);
    assert.equal(c.boolean('shop/cart/dark', {}, true), false);
    assert.equal(c.detail('shop/cart/express', {}, false).version, 1);
    assert.deepEqual(Object.keys(c.positions), ['shop/cart']);
  });

  it('ignores a cache file of another selection', async () => {
    const c = client({
      url: own.url,
      sdkKey: ownKey,
      cacheFile: cacheFile(),
      namespaces: ['search'],
      readyTimeoutMs: 300,
    });
    assert.equal((await c.ready()).source, 'defaults');
  });
});

describe('client cache file, sealed', () => {
  const SECRET = 'sk-live-cache-31337';
  const vault = {
    key: 'vault/api/endpoint',
    type: 'string',
    sensitive: true,
    variations: { live: SECRET, none: 'none' },
    environments: { development: { enabled: true, offVariation: 'none', default: 'live' } },
  };
  let own: TestServer;
  let ownKey: string;
  let otherKey: string;
  const cacheFile = () => join(dir, 'sealed.snapshot');
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) };
  /** A client of the stopped server, from the cache file only. */
  const offline = (options: Partial<ClientOptions> = {}) =>
    client({ url: own.url, sdkKey: ownKey, cacheFile: cacheFile(), readyTimeoutMs: 300, logger, ...options });

  before(async () => {
    own = await startServer({ encryptionKeys: keyring([randomBytes(32)]) });
    ownKey = await own.sdkKey('development');
    otherKey = await own.sdkKey('development');
    await own.api('POST', '/api/v1/flags', vault);
    await own.api('POST', '/api/v1/flags', booleanFlag('shop/cart/express'));
    const c = client({ url: own.url, sdkKey: ownKey, cacheFile: cacheFile(), cacheWriteDelayMs: 10 });
    assert.equal((await c.ready()).source, 'server');
    assert.equal(c.string('vault/api/endpoint', {}, 'default'), SECRET);
    await c.close(); // writes the cache file
    await own.stop();
  });
  after(() => own.remove());

  it('keeps sensitive values sealed in its cache file', async () => {
    const bytes = readFileSync(cacheFile());
    assert.ok(bytes.includes('shop/cart/express'), 'the other flags are in the file');
    assert.ok(bytes.includes('vault/api/endpoint'), 'the sensitive flag is in the file, by its key');
    assert.equal(bytes.includes(SECRET), false, 'its value is not, in plaintext');

    const c = offline({ readyTimeoutMs: 10_000 });
    assert.equal((await c.ready()).source, 'cache');
    assert.equal(c.string('vault/api/endpoint', {}, 'default'), SECRET);
    assert.equal(c.boolean('shop/cart/express', {}, false), true);
  });

  it('ignores a cache written under another key', async () => {
    warnings.length = 0;
    const c = offline({ sdkKey: otherKey });
    assert.equal((await c.ready()).source, 'defaults');
    assert.equal(c.string('vault/api/endpoint', {}, 'default'), 'default');
    assert.ok(
      warnings.some((w) => /written under another SDK key: ignored/.test(w)),
      warnings.join('\n'),
    );
  });

  it('ignores a cache whose sealed line was changed', async () => {
    const original = readFileSync(cacheFile());
    try {
      const text = original.toString('utf8');
      const at = text.indexOf('!F vault/api/endpoint\t') + '!F vault/api/endpoint\t'.length + 20;
      const flipped = text[at] === 'A' ? 'B' : 'A';
      writeFileSync(cacheFile(), text.slice(0, at) + flipped + text.slice(at + 1));
      warnings.length = 0;
      const c = offline();
      assert.equal((await c.ready()).source, 'defaults');
      assert.ok(
        warnings.some((w) => /sealed line of F vault\/api\/endpoint does not open/.test(w)),
        warnings.join('\n'),
      );
    } finally {
      writeFileSync(cacheFile(), original);
    }
  });

  it('ignores a cache file over the size limit', async () => {
    const size = readFileSync(cacheFile()).length;
    warnings.length = 0;
    const c = offline({ cacheFileMaxBytes: size - 1 });
    assert.equal((await c.ready()).source, 'defaults');
    assert.ok(
      warnings.some((w) => w.includes(`${size} bytes, over the limit of ${size - 1}`)),
      warnings.join('\n'),
    );
    const exact = offline({ cacheFileMaxBytes: size, readyTimeoutMs: 10_000 });
    assert.equal((await exact.ready()).source, 'cache', 'a file of the limit exactly is read');
  });

  it('still loads a cache file of the older format, in plaintext', async () => {
    const path = join(dir, 'plain.snapshot');
    const plain: FlagRecord = {
      key: 'vault/api/endpoint',
      type: 'string',
      sensitive: true,
      variations: { live: SECRET, none: 'none' },
      state: { enabled: true, offVariation: 'none', default: 'live' },
    };
    writeFileSync(
      path,
      encodeSnapshot({ environment: 'development', namespaces: { 'vault/api': 1 }, selection: null }, [
        plain,
      ]),
    );
    const c = offline({ cacheFile: path, readyTimeoutMs: 10_000 });
    assert.equal((await c.ready()).source, 'cache');
    assert.equal(c.string('vault/api/endpoint', {}, 'default'), SECRET);
  });
});
