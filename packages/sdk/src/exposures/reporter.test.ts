import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FlagEngine } from '@switchyard/core';
import { createClient } from '../client/client.js';
import { booleanFlag, eventually, flagPath, startServer, type TestServer } from '../testing.js';
import { ExposureReporter } from './reporter.js';

describe('exposure events', () => {
  let server: TestServer;
  let sdkKey: string;

  before(async () => {
    server = await startServer();
    sdkKey = await server.sdkKey('development');
    await server.api('POST', '/api/v1/flags', booleanFlag('shop/cart/express'));
    await server.api('POST', '/api/v1/flags', booleanFlag('shop/cart/dark', { enabled: false }));
  });
  after(() => server.remove());

  /** The server's exposure totals of a flag in development, by variant. */
  const totals = async (key: string) =>
    (
      (await server.api('GET', `${flagPath(key)}/exposures?environment=development`)) as {
        totals: Record<string, number>;
      }
    ).totals;

  it('reaches /events/v1 as one event per identical exposure, with its count', async () => {
    const client = createClient({
      url: server.url,
      sdkKey,
      environment: 'development',
      events: { flushIntervalMs: 60_000 },
    });
    await client.ready();
    for (let i = 0; i < 100; i++) client.boolean('shop/cart/express', { targetingKey: `u${i}` }, false);
    for (let i = 0; i < 10; i++) client.boolean('shop/cart/dark', { targetingKey: `u${i}` }, true);
    client.boolean('shop/cart/missing', {}, true); // an error is not an exposure
    await client.close();
    assert.deepEqual(client.exposureStats, { recorded: 110, sent: 2, dropped: 0 });

    await eventually(
      async () => (await totals('shop/cart/express')).on === 100,
      5000,
      'the counts on the server',
    );
    assert.deepEqual(await totals('shop/cart/dark'), { off: 10 });
  });

  it('samples evaluations at the configured rate', async () => {
    const engine = new FlagEngine();
    engine.setFlag({
      ...booleanFlag('a/b/c'),
      state: booleanFlag('a/b/c').environments.development,
    } as never);
    const none = new ExposureReporter(`${server.url}/events/v1`, sdkKey, { sampleRate: 0 });
    const half = new ExposureReporter(`${server.url}/events/v1`, sdkKey, { sampleRate: 0.5 });
    for (let i = 0; i < 4000; i++) {
      const result = engine.evaluate('a/b/c', 'boolean', { targetingKey: `u${i}` }, false);
      none.record('a/b/c', result);
      half.record('a/b/c', result);
    }
    assert.equal(none.stats.recorded, 0);
    assert.ok(half.stats.recorded > 1700 && half.stats.recorded < 2300, String(half.stats.recorded));
    await Promise.all([none.close(), half.close()]);
  });

  it('reports its sample rate, so the server counts sampled exposures back up', async () => {
    const off = async () => (await totals('shop/cart/dark')).off ?? 0;
    const before = await off();
    const client = createClient({
      url: server.url,
      sdkKey,
      environment: 'development',
      events: { sampleRate: 0.25, flushIntervalMs: 60_000 },
    });
    await client.ready();
    for (let i = 0; i < 4000; i++) client.boolean('shop/cart/dark', { targetingKey: `s${i}` }, true);
    await client.close();
    const recorded = client.exposureStats.recorded;
    assert.ok(recorded > 800 && recorded < 1200, String(recorded));
    await eventually(async () => (await off()) === before + recorded * 4, 5000, 'the scaled count');
  });
});

describe('exposure reporter failures', () => {
  it('drops events after bounded retries, and bounds what it holds, without throwing', async () => {
    const engine = new FlagEngine();
    for (const key of ['a/b/one', 'a/b/two', 'a/b/three']) {
      engine.setFlag({ ...booleanFlag(key), state: booleanFlag(key).environments.development } as never);
    }
    const reporter = new ExposureReporter(
      'http://127.0.0.1:9/events/v1',
      'k',
      { maxPending: 2, maxRetries: 1, retryDelayMs: 5 },
      () => {},
    );
    for (const key of ['a/b/one', 'a/b/two', 'a/b/three', 'a/b/one']) {
      reporter.record(key, engine.evaluate(key, 'boolean', {}, false));
    }
    assert.deepEqual(reporter.stats, { recorded: 4, sent: 0, dropped: 1 });
    await reporter.flush();
    assert.deepEqual(reporter.stats, { recorded: 4, sent: 0, dropped: 3 });
    await reporter.close();
  });
});
