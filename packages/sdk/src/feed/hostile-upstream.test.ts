/**
 * `UpstreamFeed` against a hostile upstream (a real node:http server that misbehaves on purpose): what it
 * reads is bounded in size and time and checked, and each bad answer drops the connection, which is
 * retried with backoff, without the feed delivering the bad data.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { eventually } from '../testing.js';
import type { SnapshotEvent, StateEvent } from './events.js';
import { UpstreamFeed, type UpstreamFeedOptions } from './upstream.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const line = (key: string) =>
  `F ${key}\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: { enabled: true, offVariation: 'off', default: 'on', version: 1 } })}`;
const header = (fields: object) => `#switchyard-snapshot 1 ${JSON.stringify(fields)}`;
const goodSnapshot = `${header({ environment: 'production', namespaces: { 'team/one': 1 }, complete: true })}\n${line('team/one/a')}\n`;

/** A server answering each request with `handlers[path]`, counting requests per path. */
async function upstream(handlers: Record<string, Handler>) {
  const requests: Record<string, number> = {};
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]!;
    requests[path] = (requests[path] ?? 0) + 1;
    const handler = handlers[path];
    if (handler === undefined) response.writeHead(404).end();
    else handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Answers the snapshot a healthy server would send. */
const snapshotOf =
  (body: string): Handler =>
  (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
    response.end(body);
  };

/**
 * Writes `chunk` for as long as the client reads, as the socket drains (so the server itself holds
 * little), counting the bytes it got out; stops when the client goes.
 */
function endless(response: ServerResponse, chunk: string, sent: { bytes: number }): void {
  let open = true;
  response.on('close', () => {
    open = false;
  });
  const pump = () => {
    while (open) {
      sent.bytes += chunk.length;
      if (!response.write(chunk)) {
        response.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** Writes `chunk` every few milliseconds until the client goes: a body that trickles. */
function trickle(response: ServerResponse, chunk: string): void {
  const timer = setInterval(() => response.write(chunk), 5);
  response.on('close', () => clearInterval(timer));
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function follow(url: string, options: Partial<UpstreamFeedOptions> = {}) {
  const feed = new UpstreamFeed({
    url,
    sdkKey: 'k',
    environment: 'production',
    initialRetryMs: 20,
    maxRetryMs: 100,
    ...options,
  });
  closers.push(() => feed.close());
  const snapshots: SnapshotEvent[] = [];
  const failures: StateEvent[] = [];
  feed.on('snapshot', (event) => snapshots.push(event));
  feed.on('state', (event) => {
    if (event.state === 'disconnected') failures.push(event);
  });
  feed.start();
  return { feed, snapshots, failures };
}

async function hostile(handlers: Record<string, Handler>) {
  const server = await upstream(handlers);
  closers.push(() => server.close());
  return server;
}

describe('UpstreamFeed with a hostile upstream', () => {
  it('drops a stream whose event never ends, holds no more than the limit, and retries after a snapshot', async () => {
    const sent = { bytes: 0 };
    const server = await hostile({
      '/sdk/v1/snapshot': snapshotOf(goodSnapshot),
      '/sdk/v1/stream': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('event: patch\ndata: ');
        endless(response, 'x'.repeat(64 * 1024), sent);
      },
    });
    const { failures } = follow(server.url, { maxEventLength: 256 * 1024 });
    await eventually(() => failures.length >= 2, 10_000, 'two dropped streams');
    assert.match(failures[0]!.error!.message, /an event longer than 262144 characters/);
    assert.ok(failures.every((f) => (f.retryInMs ?? -1) >= 0));
    // Cut inside an event, the feed takes a snapshot before it streams again.
    assert.ok(server.requests['/sdk/v1/snapshot']! >= 2, 'a snapshot before each new stream');
    // What the upstream got out per stream before the cut: the limit, plus what sockets buffer.
    const perStream = sent.bytes / server.requests['/sdk/v1/stream']!;
    assert.ok(perStream < 16 * 1024 * 1024, `${perStream} bytes went out per stream`);
  });

  it('cuts a stream snapshot that trickles, however steadily it sends', async () => {
    const server = await hostile({
      '/sdk/v1/snapshot': snapshotOf(goodSnapshot),
      '/sdk/v1/stream': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(`event: snapshot\ndata: ${header({ environment: 'production', namespaces: {} })}\n`);
        trickle(response, `data: ${line('team/one/a')}\n`);
      },
    });
    const { failures } = follow(server.url, { eventTimeoutMs: 300, readTimeoutMs: 10_000 });
    await eventually(() => failures.length >= 1, 5000, 'the trickling stream cut');
    assert.match(failures[0]!.error!.message, /completed no event for 300 ms/);
  });

  it('cuts a snapshot response that trickles (total time) or stalls (idle time)', async () => {
    const trickling = await hostile({
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.write(`${header({ environment: 'production', namespaces: { 'team/one': 1 } })}\n`);
        trickle(response, `${line('team/one/a')}\n`);
      },
    });
    const slow = follow(trickling.url, { streaming: false, requestTimeoutMs: 300, readTimeoutMs: 10_000 });
    await eventually(() => slow.failures.length >= 1, 5000, 'the trickling snapshot cut');
    assert.match(slow.failures[0]!.error!.message, /no snapshot within 300 ms/);

    const stalled = await hostile({
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.write(`${header({ environment: 'production', namespaces: { 'team/one': 1 } })}\n`);
      },
    });
    const idle = follow(stalled.url, { streaming: false, requestTimeoutMs: 10_000, readTimeoutMs: 300 });
    await eventually(() => idle.failures.length >= 1, 5000, 'the stalled snapshot cut');
    assert.match(idle.failures[0]!.error!.message, /the snapshot sent nothing for 300 ms/);
    assert.equal(slow.snapshots.length + idle.snapshots.length, 0);
  });

  it('refuses a snapshot larger than the limit, declared or not', async () => {
    const declared = await hostile({
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, {
          'content-type': 'application/vnd.switchyard.snapshot',
          'content-length': String(3 * 1024 ** 3),
        });
        response.write(`${header({ environment: 'production', namespaces: {} })}\n`);
      },
    });
    const big = follow(declared.url, { streaming: false, maxSnapshotBytes: 1024 * 1024 });
    await eventually(() => big.failures.length >= 1, 5000, 'the declared-large snapshot refused');
    assert.match(big.failures[0]!.error!.message, /is 3221225472 bytes, more than the 1048576 accepted/);

    const sent = { bytes: 0 };
    const undeclared = await hostile({
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.write(`${header({ environment: 'production', namespaces: { 'team/one': 1 } })}\n`);
        endless(response, `${line('team/one/a')}\n`.repeat(500), sent);
      },
    });
    const endlessFeed = follow(undeclared.url, { streaming: false, maxSnapshotBytes: 1024 * 1024 });
    await eventually(() => endlessFeed.failures.length >= 1, 5000, 'the endless snapshot cut');
    assert.match(endlessFeed.failures[0]!.error!.message, /longer than the 1048576 bytes accepted/);
    assert.equal(big.snapshots.length + endlessFeed.snapshots.length, 0);
  });

  it('refuses a snapshot of another environment, and one whose header cannot say what it covers', async () => {
    const staging = await hostile({
      '/sdk/v1/snapshot': snapshotOf(
        `${header({ environment: 'staging', namespaces: { 'team/one': 1 }, complete: true })}\n${line('team/one/a')}\n`,
      ),
    });
    const other = follow(staging.url, { streaming: false });
    await eventually(() => other.failures.length >= 1, 5000, 'the staging snapshot refused');
    assert.match(other.failures[0]!.error!.message, /snapshot of environment "staging", not "production"/);

    const broken = await hostile({
      '/sdk/v1/snapshot': snapshotOf(
        `${header({ environment: 'production', namespaces: ['team/one'], complete: true })}\n`,
      ),
    });
    const unreadable = follow(broken.url, { streaming: false });
    await eventually(() => unreadable.failures.length >= 1, 5000, 'the unreadable header refused');
    assert.match(unreadable.failures[0]!.error!.message, /"namespaces" is not an object of positions/);
    assert.equal(other.snapshots.length + unreadable.snapshots.length, 0);
  });

  it('keeps to the environment of its first snapshot when it was given none', async () => {
    let environment = 'production';
    const server = await hostile({
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.end(`${header({ environment, namespaces: { 'team/one': 1 }, complete: true })}\n`);
        environment = 'staging';
      },
    });
    const feed = new UpstreamFeed({ url: server.url, sdkKey: 'k', streaming: false, pollIntervalMs: 10 });
    closers.push(() => feed.close());
    const failures: string[] = [];
    feed.on('state', (event) => {
      if (event.state === 'disconnected') failures.push(event.error!.message);
    });
    const snapshots: string[] = [];
    feed.on('snapshot', (event) => snapshots.push(event.header.environment));
    feed.start();
    await eventually(() => failures.length >= 1, 5000, 'the second environment refused');
    assert.deepEqual(snapshots, ['production']);
    assert.match(failures[0]!, /snapshot of environment "staging", not "production"/);
  });

  it('refuses a patch carrying records of another namespace', async () => {
    const server = await hostile({
      '/sdk/v1/snapshot': snapshotOf(goodSnapshot),
      '/sdk/v1/stream': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        const head = JSON.stringify({ namespace: 'team/one', seq: 2, time: '', committedAt: 0 });
        response.write(`event: patch\ndata: ${head}\ndata: ${line('team/two/b')}\n\n`);
      },
    });
    const patches: unknown[] = [];
    const { feed, failures } = follow(server.url);
    feed.on('patch', (patch) => patches.push(patch));
    await eventually(() => failures.length >= 1, 5000, 'the patch refused');
    assert.match(failures[0]!.error!.message, /bad patch line for namespace team\/one: F team\/two\/b/);
    assert.deepEqual(patches, []);
    assert.deepEqual(feed.positions, { 'team/one': 1 });
  });

  it('never lets the upstream’s retry field shorten its reconnection delay', async () => {
    const server = await hostile({
      '/sdk/v1/snapshot': snapshotOf(goodSnapshot),
      '/sdk/v1/stream': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end('retry: 1\n\n');
      },
    });
    // Honouring `retry: 1` would reconnect within a millisecond; the delay is drawn up to 60 s instead
    // (below 2 ms with a chance of 1 in 30,000).
    const { failures } = follow(server.url, { initialRetryMs: 60_000, maxRetryMs: 120_000 });
    await eventually(() => failures.length >= 1, 5000, 'the ended stream');
    assert.ok(failures[0]!.retryInMs! >= 2, `retry in ${failures[0]!.retryInMs} ms`);
  });
});
