/**
 * The webhook sink against a real local HTTP server: batching, backoff on failures, final refusals,
 * a bounded queue, and sending what is queued on close.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import type { ExposureBatch } from './events.js';
import { webhookSink } from './webhook-sink.js';

/** A local webhook answering each request with the next status of `statuses` (then 204). */
async function receiver(statuses: number[] = [], delayMs = 0) {
  const received: { status: number; events: { flag: string }[] }[] = [];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', () => {
      const status = statuses.shift() ?? 204;
      received.push({ status, events: JSON.parse(text).events });
      setTimeout(() => response.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  servers.push(server);
  return { url: `http://127.0.0.1:${address.port}/`, received };
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

const batch = (n: number, flag = 'a/b/c'): ExposureBatch => ({
  environment: 'production',
  receivedAt: '2026-11-24T10:00:00.000Z',
  events: Array.from({ length: n }, () => ({
    kind: 'exposure' as const,
    flag,
    variant: 'on',
    environment: 'production',
    time: '2026-11-24T10:00:00.000Z',
    count: 1,
  })),
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('webhook sink', () => {
  it('sends events in batches of at most maxBatchEvents, retrying 5xx with backoff', async () => {
    const hook = await receiver([503, 500]);
    const sink = webhookSink({ url: hook.url, maxBatchEvents: 4, lingerMs: 5, backoffMs: 5 });
    sink.accept(batch(3));
    sink.accept(batch(3));
    await until(() => hook.received.filter((r) => r.status === 204).length >= 2);
    const delivered = hook.received.filter((r) => r.status === 204);
    assert.deepEqual(
      delivered.map((r) => r.events.length),
      [4, 2],
    );
    assert.equal(hook.received.length, 4, 'two failed attempts, then two batches');
    await sink.close();
  });

  it('drops a batch the webhook refuses with a 4xx, without retrying it', async () => {
    const hook = await receiver([400]);
    const drops: [string, number][] = [];
    const sink = webhookSink({
      url: hook.url,
      lingerMs: 5,
      backoffMs: 5,
      onDrop: (reason, n) => drops.push([reason, n]),
    });
    sink.accept(batch(2));
    await until(() => drops.length > 0);
    assert.deepEqual(drops, [['rejected', 2]]);
    assert.equal(hook.received.length, 1);
    await sink.close();
  });

  it('drops batches past maxQueuedEvents instead of holding up the caller, and sends the rest on close', async () => {
    const hook = await receiver([], 50);
    const drops: [string, number][] = [];
    const sink = webhookSink({
      url: hook.url,
      maxQueuedEvents: 5,
      lingerMs: 10_000,
      onDrop: (reason, n) => drops.push([reason, n]),
    });
    const started = performance.now();
    sink.accept(batch(3, 'a/b/first'));
    sink.accept(batch(3, 'a/b/second'));
    sink.accept(batch(2, 'a/b/third'));
    assert.ok(performance.now() - started < 50, 'accept returns at once');
    assert.deepEqual(drops, [['queue-full', 3]]);
    await sink.close();
    assert.deepEqual(
      hook.received.flatMap((r) => r.events.map((e) => e.flag)),
      ['a/b/first', 'a/b/first', 'a/b/first', 'a/b/third', 'a/b/third'],
    );
    sink.accept(batch(1));
    assert.deepEqual(drops.at(-1), ['closed', 1]);
  });
});
