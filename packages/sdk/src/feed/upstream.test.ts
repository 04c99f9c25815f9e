/**
 * `UpstreamFeed` against a real server, through a proxy that makes the network fail; and, for the
 * orderings a healthy server never produces, against a crafted SSE stream.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createClient } from '../client/client.js';
import {
  booleanFlag,
  eventually,
  type FaultyProxy,
  flagPath,
  startProxy,
  startServer,
  type TestServer,
} from '../testing.js';
import type { ConnectionState, PatchEvent, SnapshotEvent } from './events.js';
import { UpstreamFeed } from './upstream.js';

const FAST = { initialRetryMs: 20, maxRetryMs: 100 };

function follow(feed: UpstreamFeed) {
  const seen = {
    snapshots: [] as SnapshotEvent[],
    patches: [] as PatchEvent[],
    states: [] as ConnectionState[],
  };
  feed.on('snapshot', (event) => seen.snapshots.push(event));
  feed.on('patch', (event) => seen.patches.push(event));
  feed.on('state', (event) => seen.states.push(event.state));
  return seen;
}

describe('UpstreamFeed with a real server', () => {
  let server: TestServer;
  let proxy: FaultyProxy;
  let sdkKey: string;
  const feeds: UpstreamFeed[] = [];

  before(async () => {
    server = await startServer();
    proxy = await startProxy(server.url);
    sdkKey = await server.sdkKey('development');
    await server.api('POST', '/api/v1/flags', booleanFlag('team/one/a'));
    await server.api('POST', '/api/v1/flags', booleanFlag('team/two/b'));
  });
  after(async () => {
    await Promise.all(feeds.map((feed) => feed.close()));
    await proxy.close();
    await server.remove();
  });

  const feedOf = (options: Partial<ConstructorParameters<typeof UpstreamFeed>[0]> = {}) => {
    const feed = new UpstreamFeed({
      url: proxy.url,
      sdkKey,
      environment: 'development',
      ...FAST,
      ...options,
    });
    feeds.push(feed);
    return feed;
  };

  it('takes a snapshot, then streams; after a dropped connection it resumes from its positions', async () => {
    const feed = feedOf();
    const seen = follow(feed);
    feed.start();
    await eventually(() => feed.state === 'streaming', 5000, 'streaming');
    assert.equal(seen.snapshots.length, 1);
    assert.equal(seen.snapshots[0]!.complete, true);
    assert.deepEqual(feed.positions, { 'team/one': 1, 'team/two': 1 });

    proxy.refuse = ['/sdk/'];
    proxy.cut();
    await eventually(() => seen.states.includes('disconnected'), 5000, 'the disconnect');
    await server.api('POST', `${flagPath('team/one/a')}/environments/development/disable`);
    proxy.refuse = [];
    await eventually(() => seen.patches.length > 0, 5000, 'the patch made while disconnected');
    assert.equal(seen.snapshots.length, 1, 'resumed from its positions: no new snapshot');
    assert.deepEqual(
      seen.patches.map((p) => [p.namespace, p.seq, p.changes.map((c) => `${c.op} ${c.key}`)]),
      [['team/one', 2, ['put team/one/a']]],
    );
    assert.ok(Number.isFinite(seen.patches[0]!.committedAt));
    assert.deepEqual(feed.positions, { 'team/one': 2, 'team/two': 1 });
  });

  it('polls the snapshot when the stream keeps failing, and streams again when it can', async () => {
    proxy.refuse = ['/sdk/v1/stream'];
    const feed = feedOf({ streamFailuresBeforePolling: 2, pollIntervalMs: 30, streamRetryIntervalMs: 300 });
    const seen = follow(feed);
    feed.start();
    await eventually(() => feed.state === 'polling', 5000, 'polling');
    await server.api('POST', '/api/v1/flags', booleanFlag('team/two/polled'));
    await eventually(
      () => seen.snapshots.some((s) => s.bytes.includes('team/two/polled')),
      5000,
      'the new flag in a polled snapshot',
    );
    proxy.refuse = [];
    await eventually(() => feed.state === 'streaming', 5000, 'streaming again');
    const polled = seen.snapshots.length;
    await server.api('POST', `${flagPath('team/two/polled')}/environments/development/disable`);
    await eventually(
      () => seen.patches.some((p) => p.changes[0]?.key === 'team/two/polled'),
      5000,
      'the patch',
    );
    assert.equal(seen.snapshots.length, polled);
  });

  it('closes at once at any moment, even between the snapshot and the stream', async () => {
    const feed = feedOf();
    let closed: Promise<void> | undefined;
    feed.on('snapshot', () => {
      closed = feed.close();
    });
    feed.start();
    await eventually(() => closed !== undefined, 5000, 'the snapshot');
    await closed;
    assert.equal(feed.state, 'closed');
  });

  it('resumes positions too long for a URL through the POST form of the stream', async () => {
    const initialPositions = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`gone/ns${i}`, 5]));
    const feed = feedOf({ initialPositions });
    const seen = follow(feed);
    feed.start();
    await eventually(
      () => feed.state === 'streaming' && 'team/one' in feed.positions && 'team/two' in feed.positions,
      5000,
      'the selection resumed',
    );
    assert.equal(seen.states.includes('disconnected'), false, 'no attempt was refused');
    // Namespaces the positions name but the selection does not hold are left alone; those it holds and the
    // positions do not name come as snapshots of just those namespaces.
    assert.ok(seen.snapshots.every((s) => s.source === 'stream' && !s.complete));
  });

  it('reports a refused key and keeps trying', async () => {
    const feed = feedOf({ sdkKey: 'sy_not-a-key' });
    const errors: (number | undefined)[] = [];
    feed.on('state', (event) => {
      if (event.state === 'disconnected') errors.push(event.error?.status);
    });
    feed.start();
    await eventually(() => errors.length >= 2, 5000, 'two failed attempts');
    assert.equal(errors[0], 401);
  });
});

describe('UpstreamFeed with a crafted stream', () => {
  let upstream: Server;
  let url: string;
  const flagLine = (version: number, serve: 'on' | 'off') =>
    `F team/one/a\t${JSON.stringify({
      type: 'boolean',
      variations: { on: true, off: false },
      state: { enabled: true, offVariation: 'off', default: serve, version },
    })}`;
  const patch = (seq: number, version: number, serve: 'on' | 'off') =>
    `event: patch\ndata: ${JSON.stringify({ namespace: 'team/one', seq, time: new Date().toISOString(), committedAt: Date.now() })}\ndata: ${flagLine(version, serve)}\n\n`;

  before(async () => {
    upstream = createServer((request, response) => {
      if (request.url?.startsWith('/sdk/v1/snapshot')) {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot; charset=utf-8' });
        response.end(
          `#switchyard-snapshot 1 ${JSON.stringify({ environment: 'development', namespaces: { 'team/one': 1 } })}\n${flagLine(1, 'on')}\n`,
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      // The server would never send these out of order; a relay that failed over might.
      response.write('retry: 20\n\n');
      response.write(patch(3, 3, 'off'));
      response.write(patch(2, 2, 'on'));
      response.write(patch(3, 3, 'off'));
      response.write(patch(1, 1, 'on'));
      response.write(patch(4, 4, 'on'));
      response.write(
        `event: heartbeat\ndata: ${JSON.stringify({ time: new Date().toISOString(), namespaces: { 'team/one': 4 }, stale: true, staleSeconds: 12 })}\n\n`,
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  after(async () => {
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('never moves a flag back: duplicate and out-of-order patches are ignored', async () => {
    const client = createClient({ url, sdkKey: 'k', events: false, connection: FAST });
    const versions: number[] = [];
    client.on('change', () => versions.push(client.detail('team/one/a', {}, false).version));
    await client.ready();
    await eventually(() => client.detail('team/one/a', {}, false).version === 4, 5000, 'version 4');
    await client.close();
    assert.deepEqual(versions, [1, 3, 4]);
    assert.deepEqual(client.positions, { 'team/one': 4 });

    const feed = new UpstreamFeed({ url, sdkKey: 'k', ...FAST });
    const seen = follow(feed);
    feed.start();
    await eventually(() => seen.patches.length === 2, 5000, 'two patches');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await feed.close();
    assert.deepEqual(
      seen.patches.map((p) => p.seq),
      [3, 4],
    );
  });

  it('turns stale when a relay says its upstream is lost', async () => {
    const client = createClient({ url, sdkKey: 'k', events: false, connection: FAST });
    await client.ready();
    await eventually(() => client.status === 'stale', 5000, 'stale');
    assert.equal(client.boolean('team/one/a', {}, false), true);
    await client.close();
  });
});

describe('UpstreamFeed after its upstream was reset', () => {
  it('takes a reset snapshot even below the position it holds, and follows on from there', async () => {
    const line = (version: number, serve: 'on' | 'off') =>
      `F team/two/a\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: { enabled: true, offVariation: 'off', default: serve, version } })}`;
    const header = (seq: number, extra: object) =>
      `#switchyard-snapshot 1 ${JSON.stringify({ environment: 'development', namespaces: { 'team/two': seq }, ...extra })}`;
    const upstream = createServer((request, response) => {
      if (request.url?.startsWith('/sdk/v1/snapshot')) {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot; charset=utf-8' });
        response.end(`${header(5, { complete: true })}\n${line(5, 'off')}\n`);
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('retry: 20\n\n');
      // The store behind the upstream was restored from a backup: its ledger is back at 2.
      response.write(
        `event: snapshot\ndata: ${header(2, { complete: false, reset: true })}\ndata: ${line(2, 'on')}\n\n`,
      );
      response.write(
        `event: patch\ndata: ${JSON.stringify({ namespace: 'team/two', seq: 3, time: new Date().toISOString(), committedAt: Date.now() })}\ndata: ${line(3, 'off')}\n\n`,
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      const client = createClient({ url, sdkKey: 'k', events: false, connection: FAST });
      const versions: number[] = [];
      client.on('change', () => versions.push(client.detail('team/two/a', {}, false).version));
      await client.ready();
      await eventually(() => client.detail('team/two/a', {}, false).version === 3, 5000, 'version 3');
      await client.close();
      assert.deepEqual(versions, [5, 2, 3]);
      assert.deepEqual(client.positions, { 'team/two': 3 });
    } finally {
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
