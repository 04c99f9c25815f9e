/**
 * The store benchmark (`npm run bench:store`): LMDB and a Redis Cluster of 3 masters + 3 replicas, in one
 * run, on the same workload — bulk load, random point reads, durable changes with the ledger (1 and 16
 * writers), queries at full size, and change-feed latency.
 *
 *   --flags=N    flags to load (default 1,000,000)   --seconds=S  duration of each rate (default 5)
 *   --only=lmdb|redis-cluster                        --json FILE  also write the results as JSON
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConflictError,
  FlagStore,
  LmdbAdapter,
  RedisAdapter,
  type StoreAdapter,
} from '../../packages/store/src/index.js';
import { persistenceBusy, startRedisCluster } from '../../packages/store/src/testing/redis-servers.js';
import { numberArg, parseArgs, stringArg } from '../harness/args.js';
import { describeMachine, machineInfo } from '../harness/machine.js';
import { writeJsonReport } from '../harness/output.js';
import { formatRate, renderTable } from '../harness/table.js';
import { type Latencies, latencies, percentiles, rate } from './measure.js';
import { FLAGS_PER_NAMESPACE, flagDocument, flagKey, namespaceOf, TAGS, WORDS } from './workload.js';

const args = parseArgs();
const FLAGS = numberArg(args, 'flags', 1_000_000);
const SECONDS = numberArg(args, 'seconds', 5);
const only = stringArg(args, 'only');
const actor = { actor: 'bench' };
const random = (n: number) => Math.floor(Math.random() * n);

interface Result {
  adapter: string;
  flags: number;
  loadSeconds: number;
  /** Seconds after the load until background work it caused was done (Redis: AOF rewrites). */
  settleSeconds?: number;
  readsPerSecond: number;
  changesSequential: number;
  changes16Writers: number;
  queries: Record<'prefix' | 'tag' | 'enabledInRegion' | 'text', Latencies>;
  feed: { fromWrite: Latencies; fromAck: Latencies };
}

async function bulkLoad(store: FlagStore): Promise<number> {
  const started = performance.now();
  const chunk = 10_000;
  const inFlight = 4;
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (;;) {
        const start = next;
        next += chunk;
        if (start >= FLAGS) return;
        const docs = [];
        for (let i = start; i < Math.min(start + chunk, FLAGS); i++) docs.push(flagDocument(i));
        await store.flags.createMany(docs, actor, 500);
        if ((start / chunk) % 20 === 0) process.stderr.write(`  loaded ${start + docs.length}\n`);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

async function change(store: FlagStore, key: string): Promise<void> {
  for (;;) {
    try {
      await store.flags.updateState(
        key,
        'production',
        { state: (s) => ({ ...s, enabled: !s.enabled }) },
        actor,
      );
      return;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}

/**
 * Change-feed latency of 500 sequential writes: from the write call to delivery (which includes the write's
 * own durable commit), and from the write's acknowledgement to delivery (0 when delivered before it).
 */
async function feedLatency(store: FlagStore): Promise<{ fromWrite: Latencies; fromAck: Latencies }> {
  const ns = namespaceOf(0);
  const delivered = new Map<number, number>();
  let waiting: (() => void) | undefined;
  const feed = store.ledger.subscribe(
    [ns],
    {},
    {
      event: (e) => {
        delivered.set(e.seq, performance.now());
        waiting?.();
      },
    },
  );
  await feed.ready;
  const fromWrite: number[] = [];
  const fromAck: number[] = [];
  for (let i = 0; i < 500; i++) {
    const before = feed.position(ns);
    const started = performance.now();
    await change(store, flagKey(i % Math.min(FLAGS, FLAGS_PER_NAMESPACE)));
    const acknowledged = performance.now();
    while (feed.position(ns) <= before) await new Promise<void>((resolve) => (waiting = resolve));
    const at = delivered.get(before + 1)!;
    fromWrite.push(at - started);
    fromAck.push(Math.max(0, at - acknowledged));
  }
  feed.close();
  return { fromWrite: percentiles(fromWrite), fromAck: percentiles(fromAck) };
}

/**
 * Runs every measure on one adapter. `settle`, if given, waits after the bulk load until the store's
 * background work caused by it is done (Redis's AOF rewrites), so that what follows measures the store
 * at rest; it resolves the seconds it waited, reported beside the load.
 */
async function run(name: string, adapter: StoreAdapter, settle?: () => Promise<number>): Promise<Result> {
  const store = new FlagStore(adapter, { historyLimit: 20, feedPollIntervalMs: 1000 });
  try {
    for (const env of ['development', 'staging', 'production']) {
      await store.flags.putEnvironment({ name: env, protected: env === 'production' }, actor);
    }
    process.stderr.write(`${name}: bulk load of ${FLAGS} flags\n`);
    const loadSeconds = await bulkLoad(store);
    const settleSeconds = settle === undefined ? undefined : await settle();
    process.stderr.write(
      `${name}: loaded in ${loadSeconds.toFixed(1)} s${settleSeconds === undefined ? '' : `, settled ${settleSeconds.toFixed(1)} s later`}; point reads\n`,
    );
    const readsPerSecond = await rate(64, SECONDS, async () => {
      await store.flags.state(flagKey(random(FLAGS)), 'production');
    });
    process.stderr.write(`${name}: changes\n`);
    const changesSequential = await rate(1, SECONDS, () => change(store, flagKey(random(FLAGS))));
    const changes16Writers = await rate(16, SECONDS, () => change(store, flagKey(random(FLAGS))));
    process.stderr.write(`${name}: queries\n`);
    const namespaces = Math.ceil(FLAGS / FLAGS_PER_NAMESPACE);
    // A prefix covering about a tenth of the namespaces, so a page may have to look through several.
    const somePrefix = () => namespaceOf(random(FLAGS)).slice(0, -1);
    const queries = {
      prefix: await latencies(200, () =>
        store.queries.list({ prefix: `${namespaceOf(random(namespaces))}/`, limit: 100 }),
      ),
      tag: await latencies(200, () =>
        store.queries.list({ prefix: somePrefix(), tag: TAGS[random(TAGS.length)]!, limit: 100 }),
      ),
      enabledInRegion: await latencies(200, () =>
        store.queries.list({
          prefix: somePrefix(),
          enabled: { environment: 'production', region: 'eu-west' },
          limit: 100,
        }),
      ),
      text: await latencies(200, () =>
        store.queries.list({ prefix: somePrefix(), text: WORDS[random(WORDS.length)]!, limit: 100 }),
      ),
    };
    process.stderr.write(`${name}: change feed\n`);
    const feed = await feedLatency(store);
    const result = {
      adapter: name,
      flags: FLAGS,
      loadSeconds,
      ...(settleSeconds === undefined ? {} : { settleSeconds }),
      readsPerSecond,
      changesSequential,
      changes16Writers,
      queries,
      feed,
    };
    process.stderr.write(`${name}: ${JSON.stringify(result)}\n`);
    return result;
  } finally {
    await store.close();
  }
}

/**
 * Waits until no node rewrites its AOF, has a rewrite scheduled or loads its dataset (a bulk load grows the
 * AOF enough to start rewrites, which fork and write the whole dataset); resolves the seconds waited.
 */
async function aofRewritesDone(nodes: readonly { port: number }[]): Promise<number> {
  const started = performance.now();
  while ((await Promise.all(nodes.map((n) => persistenceBusy(n.port)))).some((busy) => busy !== undefined)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return (performance.now() - started) / 1000;
}

const results: Result[] = [];
if (only === undefined || only === 'lmdb') {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-lmdb-'));
  try {
    results.push(await run('lmdb', new LmdbAdapter({ path: dir })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (only === undefined || only === 'redis-cluster') {
  // Redis's usual node timeout: under a bulk load on two cores, the tests' 1 s would fail nodes over.
  const cluster = await startRedisCluster({
    masters: 3,
    replicasPerMaster: 1,
    appendFsync: 'everysec',
    nodeTimeoutMs: 15_000,
  });
  try {
    results.push(
      await run(
        'redis-cluster',
        new RedisAdapter({ url: cluster.url, waitReplicas: 1, waitTimeoutMs: 15_000 }),
        () => aofRewritesDone(cluster.nodes),
      ),
    );
  } finally {
    await cluster.stop();
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;
console.log(describeMachine(machineInfo()));
console.log(`\nStore benchmark, ${FLAGS.toLocaleString('en')} flags (3 environments each)\n`);
console.log(
  renderTable(
    ['measure', ...results.map((r) => r.adapter)],
    [
      ['bulk load', ...results.map((r) => `${r.loadSeconds.toFixed(1)} s`)],
      [
        'then background AOF rewrites until',
        ...results.map((r) => (r.settleSeconds === undefined ? '—' : `+${r.settleSeconds.toFixed(1)} s`)),
      ],
      ['random point reads/s (64 in flight)', ...results.map((r) => formatRate(r.readsPerSecond))],
      ['durable changes/s, 1 writer', ...results.map((r) => formatRate(r.changesSequential))],
      ['durable changes/s, 16 writers', ...results.map((r) => formatRate(r.changes16Writers))],
      ...(['prefix', 'tag', 'enabledInRegion', 'text'] as const).map((q) => [
        `query page of 100, ${q}: p50 / p99`,
        ...results.map((r) => `${ms(r.queries[q].p50)} / ${ms(r.queries[q].p99)}`),
      ]),
      [
        'change feed, write call → subscriber: p50 / p99',
        ...results.map((r) => `${ms(r.feed.fromWrite.p50)} / ${ms(r.feed.fromWrite.p99)}`),
      ],
      [
        'change feed, acknowledged → subscriber: p50 / p99',
        ...results.map((r) => `${ms(r.feed.fromAck.p50)} / ${ms(r.feed.fromAck.p99)}`),
      ],
    ],
  ),
);
const json = stringArg(args, 'json');
if (json !== undefined)
  console.log(`\nResults written to ${writeJsonReport(json, { machine: machineInfo(), results })}`);
