/**
 * Exposure events over real HTTP: a server on LMDB on a loopback port, SDK keys and control-plane tokens,
 * a real local HTTP server as the webhook, a real file for JSON Lines.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlagStore, LmdbAdapter, type StoreAdapter, UnavailableError } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken, type Role, type SdkRole } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { createMetrics } from '../metrics.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';

const T0 = Date.parse('2026-11-24T10:00:00Z');

const call = (
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string } = {},
) => callApi(base, method, path, options);

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const flagDoc = (key: string) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: {},
});

const exposure = (flag: string, variant: string, extra: Record<string, unknown> = {}) => ({
  kind: 'exposure',
  flag,
  variant,
  ...extra,
});

/** A local webhook: records each JSON body; answers 500 to the first `failFirst` requests. */
async function startWebhook(failFirst: number): Promise<{
  url: string;
  // biome-ignore lint/suspicious/noExplicitAny: recorded JSON bodies
  bodies: any[];
  requests: () => number;
  server: Server;
}> {
  // biome-ignore lint/suspicious/noExplicitAny: recorded JSON bodies
  const bodies: any[] = [];
  let requests = 0;
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', () => {
      requests++;
      if (requests <= failFirst) {
        response.writeHead(500).end();
        return;
      }
      bodies.push(JSON.parse(text));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}/hook`, bodies, requests: () => requests, server };
}

describe('exposure events over HTTP', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-exposures-'));
  const file = join(dir, 'exposures.jsonl');
  const tokens: Record<string, string> = {};
  const read = (key: string, environment: string, token = tokens.viewer!, range = '') =>
    call(
      base,
      'GET',
      `/api/v1/flags/${encodeURIComponent(key)}/exposures?environment=${environment}${range}`,
      { token },
    );
  const send = (token: string, body: unknown) => call(base, 'POST', '/events/v1', { token, body });

  before(async () => {
    const metrics = createMetrics();
    temp = temporaryStore({ observe: metrics.observeStore });
    store = temp.store;
    tokens.admin = (await bootstrap(store)).adminToken!;
    const make = async (
      name: string,
      role: Role | SdkRole,
      scopes: { namespaces?: string[]; environments?: string[] } = {},
    ) => {
      const { value, record } = newToken(name, role, scopes);
      await store.tokens.create(record, { actor: 'test' });
      tokens[name] = value;
    };
    await make('viewer', 'viewer');
    await make('editor', 'editor');
    await make('viewerB', 'viewer', { namespaces: ['team/b'] });
    await make('editorStaging', 'editor', { environments: ['staging'] });
    await make('sdkProduction', 'sdk-server', { environments: ['production'] });
    await make('sdkStaging', 'sdk-client', { environments: ['staging'] });
    await make('sdkTeamA', 'sdk-server', { environments: ['production'], namespaces: ['team/a'] });
    for (const key of ['team/a/card', 'team/a/banner', 'team/a/hooks', 'team/a/untouched', 'team/b/card']) {
      await store.flags.create(flagDoc(key), { actor: 'test' });
    }
    webhook = await startWebhook(1);
    app = await buildServer({
      store,
      metrics,
      clock: () => T0 + 90 * 60_000, // 11:30
      exposures: {
        flushIntervalMs: 25,
        webhook: { url: webhook.url, lingerMs: 10, backoffMs: 10 },
        file,
      },
    });
    base = await listenOnLoopback(app);
  });

  after(async () => {
    await app.close();
    await temp.remove();
    webhook.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts exposures per variant and hour, outside the ledger, and reads them back through the API', async () => {
    const head = await store.adapter.ledgerHead('team/a');
    const first = await send(tokens.sdkProduction!, {
      events: [
        exposure('team/a/card', 'on', {
          time: '2026-11-24T10:15:00Z',
          count: 3,
          version: 2,
          reason: 'SPLIT',
        }),
        exposure('team/a/card', 'off', { time: '2026-11-24T10:59:59.999Z' }),
        exposure('team/a/card', 'on', { time: '2026-11-24T11:00:00Z', ruleId: 'beta' }),
        exposure('team/a/banner', 'on', { time: '2026-11-24T10:00:00Z' }),
      ],
    });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.deepEqual(first.body, { accepted: 4 });
    // The same counters again, in another request: they add up.
    const second = await send(tokens.sdkProduction!, {
      events: [
        exposure('team/a/card', 'on', { time: '2026-11-24T10:30:00Z', count: 2 }),
        exposure('team/a/card', 'on'), // no time: the server's (11:30)
      ],
    });
    assert.equal(second.status, 202);
    const counted = await eventually(
      () => read('team/a/card', 'production', tokens.viewer, '&from=2026-11-24T00:00:00Z'),
      (r) => r.body.total === 8,
    );
    assert.equal(counted.status, 200, JSON.stringify(counted.body));
    assert.deepEqual(counted.body, {
      flag: 'team/a/card',
      environment: 'production',
      from: '2026-11-24T00:00:00.000Z',
      to: '2026-11-24T11:30:00.000Z',
      items: [
        { hour: '2026-11-24T10:00:00.000Z', counts: { off: 1, on: 5 }, total: 6 },
        { hour: '2026-11-24T11:00:00.000Z', counts: { on: 2 }, total: 2 },
      ],
      totals: { off: 1, on: 7 },
      total: 8,
    });
    const hour10 = await read(
      'team/a/card',
      'production',
      tokens.viewer,
      '&from=2026-11-24T10:20:00Z&to=2026-11-24T11:00:00Z',
    );
    assert.deepEqual(hour10.body.items, [
      { hour: '2026-11-24T10:00:00.000Z', counts: { off: 1, on: 5 }, total: 6 },
    ]);
    assert.equal((await read('team/a/banner', 'production')).body.total, 1);
    // Analytics are no configuration change.
    assert.deepEqual(await store.adapter.ledgerHead('team/a'), head);
    const metrics = (await call(base, 'GET', '/metrics')).body;
    assert.match(metrics, /switchyard_exposures_accepted_total\{environment="production"\} \d+/);
  });

  it("counts in the SDK key's environment and refuses a batch naming another", async () => {
    const sent = await send(tokens.sdkStaging!, { events: [exposure('team/b/card', 'off', { count: 4 })] });
    assert.equal(sent.status, 202);
    const named = await send(tokens.sdkStaging!, {
      environment: 'staging',
      events: [exposure('team/b/card', 'off')],
    });
    assert.equal(named.status, 202);
    assert.equal(
      (
        await eventually(
          () => read('team/b/card', 'staging'),
          (r) => r.body.total === 5,
        )
      ).body.total,
      5,
    );
    const other = await send(tokens.sdkStaging!, {
      environment: 'production',
      events: [exposure('team/b/card', 'off')],
    });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(other.body.detail, /for environment "staging"/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await read('team/b/card', 'production')).body.total, 0);
  });

  it('takes control-plane tokens of editors and above with an environment, within their scopes', async () => {
    assert.equal(
      (await send(tokens.editor!, { environment: 'development', events: [exposure('team/b/card', 'on')] }))
        .status,
      202,
    );
    const missing = await send(tokens.editor!, { events: [exposure('team/b/card', 'on')] });
    assert.equal(missing.status, 400);
    assert.match(missing.body.detail, /which environment/);
    assert.equal(
      (await send(tokens.viewer!, { environment: 'development', events: [exposure('team/b/card', 'on')] }))
        .status,
      403,
    );
    assert.equal(
      (
        await send(tokens.editorStaging!, {
          environment: 'development',
          events: [exposure('team/b/card', 'on')],
        })
      ).status,
      403,
    );
    assert.equal(
      (await send(tokens.editor!, { environment: 'nowhere', events: [exposure('team/b/card', 'on')] }))
        .status,
      400,
    );
    assert.equal(
      (
        await eventually(
          () => read('team/b/card', 'development'),
          (r) => r.body.total === 1,
        )
      ).body.total,
      1,
    );
  });

  it("leaves out the events of flags outside the key's namespaces, counts them, and counts the rest", async () => {
    const before = (await read('team/b/card', 'production')).body.total;
    const sent = await send(tokens.sdkTeamA!, {
      events: [exposure('team/a/banner', 'off'), exposure('team/b/card', 'on', { count: 7 })],
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.deepEqual(sent.body, { accepted: 1, dropped: 1 });
    await eventually(
      () => read('team/a/banner', 'production'),
      (r) => r.body.totals.off === 1,
    );
    assert.equal((await read('team/b/card', 'production')).body.total, before);
    const metrics = (await call(base, 'GET', '/metrics')).body;
    assert.match(metrics, /switchyard_exposures_refused_total\{reason="namespace"\} 1/);
  });

  it('leaves out only the bad events of a batch (dated 1969, or past 2^53 in sum), counts them, and counts the rest', async () => {
    for (const key of ['team/a/dated', 'team/a/huge', 'team/a/beside']) {
      await store.flags.create(flagDoc(key), { actor: 'test' });
    }
    const dated = await send(tokens.sdkProduction!, {
      events: [
        exposure('team/a/dated', 'on', { time: '1969-12-31T23:59:59Z' }),
        exposure('team/a/beside', 'on', { time: '2026-11-24T10:15:00Z', count: 2 }),
        exposure('team/a/dated', 'off', { time: '2026-11-24T10:15:00Z' }),
      ],
    });
    assert.equal(dated.status, 202, JSON.stringify(dated.body));
    assert.deepEqual(dated.body, { accepted: 2, dropped: 1 });
    // 9,008 events of 10^12 each pass 2^53 - 1 on the 9,008th, which alone is left out.
    const huge = await send(tokens.sdkProduction!, {
      events: [
        ...Array.from({ length: 9008 }, () =>
          exposure('team/a/huge', 'on', { time: '2026-11-24T10:15:00Z', count: 1e12 }),
        ),
        exposure('team/a/beside', 'on', { time: '2026-11-24T10:15:00Z', count: 3 }),
      ],
    });
    assert.equal(huge.status, 202, JSON.stringify(huge.body));
    const range = '&from=2026-11-24T00:00:00Z';
    const beside = await eventually(
      () => read('team/a/beside', 'production', tokens.viewer, range),
      (r) => r.body.total === 5,
    );
    assert.equal(beside.body.total, 5, JSON.stringify(beside.body));
    assert.deepEqual(
      (
        await eventually(
          () => read('team/a/dated', 'production', tokens.viewer, range),
          (r) => r.body.total === 1,
        )
      ).body.totals,
      { off: 1 },
    );
    assert.equal(
      (
        await eventually(
          () => read('team/a/huge', 'production', tokens.viewer, range),
          (r) => r.body.total > 0,
        )
      ).body.total,
      9007e12,
    );
    const metrics = (await call(base, 'GET', '/metrics')).body;
    assert.match(metrics, /switchyard_exposures_refused_total\{reason="hour"\} 1/);
    assert.match(metrics, /switchyard_exposures_refused_total\{reason="count-overflow"\} 1/);
  });

  it('refuses invalid bodies with located 400 problems, and counts nothing of them', async () => {
    const valid = exposure('team/a/untouched', 'on');
    const cases: [unknown, string, string][] = [
      [{ events: [valid], extra: 1 }, 'extra', 'is not a known field'],
      [{ events: [valid, { ...valid, colour: 'red' }] }, 'events[1].colour', 'is not a known field'],
      [{ events: [valid, { ...valid, 'odd key': 1 }] }, 'events[1]["odd key"]', 'is not a known field'],
      [{ events: [valid, { ...valid, 7: 1 }] }, 'events[1][7]', 'is not a known field'],
      [
        { events: [valid, { ...valid, flag: 'Not A Key' }] },
        'events[1].flag',
        'must be a key "namespace/name"',
      ],
      [
        { events: [valid, { kind: 'exposure', flag: 'team/a/untouched' }] },
        'events[1].variant',
        'is required',
      ],
      [{ events: [valid, { ...valid, variant: '1st' }] }, 'events[1].variant', 'must be a variation name'],
      [{ events: [valid, { ...valid, count: 0 }] }, 'events[1].count', 'must be >= 1'],
      [{ events: [valid, { ...valid, kind: 'click' }] }, 'events[1].kind', 'must be equal to constant'],
      [{ events: [valid, { ...valid, time: 'yesterday' }] }, 'events[1].time', 'must match format'],
      [
        { events: Array.from({ length: 10_001 }, () => valid) },
        'events',
        'must NOT have more than 10000 items',
      ],
      [{ environment: 'production' }, 'events', 'is required'],
      [[valid], '', 'must be object'],
    ];
    for (const [body, path, message] of cases) {
      const response = await send(tokens.sdkProduction!, body);
      assert.equal(
        response.status,
        400,
        `${JSON.stringify(body).slice(0, 200)} → ${JSON.stringify(response.body)}`,
      );
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(response.body.title, 'Bad Request');
      assert.equal(response.body.errors[0].path, path, JSON.stringify(response.body));
      assert.ok(response.body.errors[0].message.startsWith(message), JSON.stringify(response.body));
    }
    const notJson = await call(base, 'POST', '/events/v1', {
      token: tokens.sdkProduction!,
      raw: '{"events": [',
    });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.title, 'Bad Request');
    const padding = 'x'.repeat(1024 * 1024);
    const tooLarge = await call(base, 'POST', '/events/v1', {
      token: tokens.sdkProduction!,
      raw: JSON.stringify({ events: [valid], padding }),
    });
    assert.equal(tooLarge.status, 413);
    const anonymous = await call(base, 'POST', '/events/v1', { body: { events: [valid] } });
    assert.equal(anonymous.status, 401);
    assert.equal(
      (
        await call(base, 'POST', '/events/v1', {
          token: `sy_${'0'.repeat(16)}_${'a'.repeat(43)}`,
          body: { events: [valid] },
        })
      ).status,
      401,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await read('team/a/untouched', 'production')).body.total, 0);
  });

  it('answers exposure reads to viewers within their scopes', async () => {
    assert.equal((await read('team/a/card', 'production', tokens.viewerB)).status, 403);
    assert.equal((await read('team/b/card', 'staging', tokens.viewerB)).status, 200);
    assert.equal((await read('team/a/card', 'production', tokens.sdkProduction)).status, 403);
    assert.equal((await read('team/a/missing', 'production')).status, 404);
    const backwards = await read(
      'team/a/card',
      'production',
      tokens.viewer,
      '&from=2026-11-24T10:00:00Z&to=2026-11-24T09:00:00Z',
    );
    assert.equal(backwards.status, 400);
    const tooLong = await read(
      'team/a/card',
      'production',
      tokens.viewer,
      '&from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
    );
    assert.equal(tooLong.status, 400);
    assert.equal(
      (await call(base, 'GET', '/api/v1/flags/team%2Fa%2Fcard/exposures?environment=production')).status,
      401,
    );
    assert.equal((await read('team/a/card', 'production', tokens.viewer, '&colour=red')).status, 400);
  });

  it('forwards every accepted batch to the webhook, sending again after a failure', async () => {
    const accepted = await send(tokens.sdkProduction!, {
      events: [
        exposure('team/a/hooks', 'on', { count: 2 }),
        exposure('team/a/hooks', 'off', { time: '2026-11-24T09:00:00Z' }),
      ],
    });
    assert.equal(accepted.status, 202);
    const forwarded = () => webhook.bodies.flatMap((b) => b.events).filter((e) => e.flag === 'team/a/hooks');
    await eventually(
      async () => forwarded(),
      (events) => events.length === 2,
    );
    assert.deepEqual(forwarded(), [
      {
        kind: 'exposure',
        flag: 'team/a/hooks',
        variant: 'on',
        environment: 'production',
        time: '2026-11-24T11:30:00.000Z',
        count: 2,
      },
      {
        kind: 'exposure',
        flag: 'team/a/hooks',
        variant: 'off',
        environment: 'production',
        time: '2026-11-24T09:00:00.000Z',
        count: 1,
      },
    ]);
    // Every accepted event of the earlier tests got there too, though the first send failed.
    assert.ok(webhook.requests() > webhook.bodies.length);
    const all = webhook.bodies.flatMap((b) => b.events);
    assert.ok(all.some((e) => e.flag === 'team/a/card' && e.ruleId === 'beta'));
    assert.ok(
      all.every((e) => e.flag !== 'team/a/untouched'),
      'refused batches are not forwarded',
    );
    const metrics = (await call(base, 'GET', '/metrics')).body;
    assert.doesNotMatch(metrics, /switchyard_exposure_sink_dropped_total\{sink="webhook"/);
  });

  it('appends every accepted event to the JSON Lines file', async () => {
    const sent = await send(tokens.sdkStaging!, {
      events: [exposure('team/b/card', 'on', { count: 7, reason: 'TARGETING_MATCH' })],
    });
    assert.equal(sent.status, 202);
    const lines = await eventually(
      async () =>
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
          // biome-ignore lint/suspicious/noExplicitAny: parsed JSON lines
          .map((line) => JSON.parse(line) as any),
      (events) => events.some((e) => e.count === 7),
    );
    assert.deepEqual(
      lines.find((e) => e.count === 7),
      {
        kind: 'exposure',
        flag: 'team/b/card',
        variant: 'on',
        reason: 'TARGETING_MATCH',
        environment: 'staging',
        time: '2026-11-24T11:30:00.000Z',
        count: 7,
      },
    );
    assert.ok(lines.some((e) => e.flag === 'team/a/hooks'));
    assert.ok(lines.every((e) => e.flag !== 'team/a/untouched'));
  });
});

describe('exposure events when the store or a sink fails', () => {
  let dir: string;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let failing = true;
  let sdkKey: string;
  let viewer: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-exposures-faults-'));
    const lmdb = new LmdbAdapter({ path: dir });
    // The real LMDB adapter, whose counter writes fail while `failing` is set.
    const flaky = new Proxy(lmdb, {
      get(target, property) {
        if (property === 'addCounts' && failing) {
          return async () => {
            throw new UnavailableError('the counters cannot be written (test)');
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as StoreAdapter;
    const metrics = createMetrics();
    store = new FlagStore(flaky);
    await bootstrap(store);
    const sdk = newToken('sdk', 'sdk-server', { environments: ['production'] });
    await store.tokens.create(sdk.record, { actor: 'test' });
    sdkKey = sdk.value;
    const view = newToken('viewer', 'viewer');
    await store.tokens.create(view.record, { actor: 'test' });
    viewer = view.value;
    await store.flags.create(flagDoc('team/a/card'), { actor: 'test' });
    app = await buildServer({
      store,
      metrics,
      exposures: {
        flushIntervalMs: 25,
        maxPendingCounters: 3,
        // Nothing listens on port 9 of loopback: every send fails.
        webhook: { url: 'http://127.0.0.1:9/hook', lingerMs: 5, backoffMs: 5, maxAttempts: 2 },
      },
    });
    base = await listenOnLoopback(app);
  });

  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the counts of failed flushes, answers 503 when full, and writes them once the store is back', async () => {
    const events = (variants: string[]) => ({ events: variants.map((v) => exposure('team/a/card', v)) });
    assert.equal(
      (await call(base, 'POST', '/events/v1', { token: sdkKey, body: events(['on', 'on', 'off']) })).status,
      202,
    );
    const failures = await eventually(
      async () => (await call(base, 'GET', '/metrics')).body as string,
      (text) => Number(/switchyard_exposure_flush_failures_total (\d+)/.exec(text)?.[1]) >= 2,
    );
    assert.ok(Number(/switchyard_exposure_flush_failures_total (\d+)/.exec(failures)?.[1]) >= 2, failures);
    assert.match(failures, /switchyard_exposure_pending_counters 2/);
    // Two counters held, room for one more: a batch with two new ones is refused whole.
    const full = await call(base, 'POST', '/events/v1', { token: sdkKey, body: events(['on', 'a', 'b']) });
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '1');
    assert.equal(
      (await call(base, 'POST', '/events/v1', { token: sdkKey, body: events(['on', 'a']) })).status,
      202,
    );
    failing = false;
    const path = `/api/v1/flags/${encodeURIComponent('team/a/card')}/exposures?environment=production`;
    const read = await eventually(
      () => call(base, 'GET', path, { token: viewer }),
      (r) => r.body.total === 5,
    );
    assert.deepEqual(read.body.totals, { a: 1, off: 1, on: 3 });
    const metrics = await eventually(
      async () => (await call(base, 'GET', '/metrics')).body as string,
      (text) =>
        /switchyard_exposure_sink_dropped_total\{sink="webhook",reason="retries-exhausted"\} 5/.test(text) &&
        // The counts are read back once written; the aggregator lets go of them just after.
        /switchyard_exposure_pending_counters 0/.test(text),
    );
    assert.match(
      metrics,
      /switchyard_exposure_sink_dropped_total\{sink="webhook",reason="retries-exhausted"\} 5/,
    );
    assert.match(metrics, /switchyard_exposure_pending_counters 0/);
    assert.match(metrics, /switchyard_exposure_counts_dropped_total 0/);
  });
});
