/**
 * The OpenFeature provider through the real `@openfeature/server-sdk`, against a real server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ErrorCode,
  type EventDetails,
  OpenFeature,
  ProviderEvents,
  ProviderStatus,
} from '@openfeature/server-sdk';
import { bannerFlag, booleanFlag, eventually, flagPath, startServer, type TestServer } from '../testing.js';
import { SwitchyardProvider } from './provider.js';

const FAST = { initialRetryMs: 20, maxRetryMs: 100 };

describe('OpenFeature provider', () => {
  let server: TestServer;
  let sdkKey: string;

  before(async () => {
    server = await startServer();
    sdkKey = await server.sdkKey('development');
    await server.api('POST', '/api/v1/flags', booleanFlag('shop/cart/express'));
    await server.api('POST', '/api/v1/flags', bannerFlag);
    await server.api('POST', '/api/v1/flags', {
      key: 'shop/cart/limits',
      type: 'json',
      variations: { small: { items: 10 }, large: { items: 100 } },
      environments: { development: { enabled: true, offVariation: 'small', default: 'large' } },
    });
  });
  after(async () => {
    await OpenFeature.close();
    await server.remove();
  });

  it('resolves flags with their version and rule in flagMetadata, and follows changes and staleness', async () => {
    const provider = new SwitchyardProvider({
      url: server.url,
      sdkKey,
      environment: 'development',
      events: false,
      connection: FAST,
    });
    await OpenFeature.setProviderAndWait('sdk-test', provider);
    const client = OpenFeature.getClient('sdk-test');
    assert.equal(client.providerStatus, ProviderStatus.READY);

    const banner = await client.getStringDetails('shop/cart/banner', 'x', {
      targetingKey: 'u1',
      email: 'a@example.com',
    });
    assert.equal(banner.value, 'Sale today');
    assert.equal(banner.variant, 'sale');
    assert.equal(banner.reason, 'TARGETING_MATCH');
    assert.deepEqual(banner.flagMetadata, { version: 1, ruleId: 'staff' });

    const express = await client.getBooleanDetails('shop/cart/express', false, { targetingKey: 'u1' });
    assert.equal(express.value, true);
    assert.deepEqual(express.flagMetadata, { version: 1 });
    assert.deepEqual(await client.getObjectValue('shop/cart/limits', {}, { targetingKey: 'u1' }), {
      items: 100,
    });
    assert.equal(await client.getNumberValue('shop/cart/express', 3), 3);

    const missing = await client.getBooleanDetails('shop/cart/missing', true);
    assert.deepEqual([missing.value, missing.errorCode], [true, ErrorCode.FLAG_NOT_FOUND]);
    const mismatch = await client.getStringDetails('shop/cart/express', 'no');
    assert.deepEqual([mismatch.value, mismatch.errorCode], ['no', ErrorCode.TYPE_MISMATCH]);

    const changed: EventDetails[] = [];
    client.addHandler(ProviderEvents.ConfigurationChanged, (details) => {
      if (details !== undefined) changed.push(details);
    });
    await server.api('POST', `${flagPath('shop/cart/express')}/environments/development/disable`);
    await eventually(() => changed.length > 0, 5000, 'ConfigurationChanged');
    assert.deepEqual(changed[0]!.flagsChanged, ['shop/cart/express']);
    assert.equal(await client.getBooleanValue('shop/cart/express', true), false);

    let stale = 0;
    client.addHandler(ProviderEvents.Stale, () => stale++);
    await server.stop();
    await eventually(() => stale === 1, 5000, 'Stale');
    assert.equal(client.providerStatus, ProviderStatus.STALE);
    assert.equal(await client.getBooleanValue('shop/cart/express', true), false, 'still from memory');
  });

  it('fails initialisation without any data, leaving the provider in error', async () => {
    const provider = new SwitchyardProvider({
      url: 'http://127.0.0.1:9',
      sdkKey,
      events: false,
      readyTimeoutMs: 100,
      connection: FAST,
    });
    await assert.rejects(OpenFeature.setProviderAndWait('sdk-test-down', provider));
    const client = OpenFeature.getClient('sdk-test-down');
    assert.equal(client.providerStatus, ProviderStatus.ERROR);
    assert.equal(await client.getBooleanValue('shop/cart/express', true), true);
  });
});
