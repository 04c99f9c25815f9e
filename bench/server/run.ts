/**
 * The control-plane benchmark (`npm run bench:server`): a real `serve` process on LMDB, driven over HTTP.
 * Changes/s with 16 clients at ~0 and at 1M flags, applying 1M flags through `/api/v1/apply`, GET flag and
 * query page latency at 1M flags, and the server's RSS.
 *
 * With `--peers=unleash` (the default; `--peers=` skips it) Unleash 8.2 on PostgreSQL runs first, alone, as
 * the peer column (bench/peers/unleash-server/): changes/s at 100 and 10,000 flags, its RSS; what it cannot
 * reach in reasonable time says how long its import alone would take.
 *
 *   --flags=N (default 1,000,000)   --seconds=S (default 5)   --peers=unleash   --json FILE
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberArg, parseArgs, stringArg } from '../harness/args.js';
import { describeMachine, machineInfo } from '../harness/machine.js';
import { writeJsonReport } from '../harness/output.js';
import { apiClient, applyFlags, freePort, rssMiB, startSwitchyard } from '../harness/switchyard-process.js';
import { formatRate, renderTable } from '../harness/table.js';
import { unleashServerColumn } from '../peers/unleash-server/server-column.js';
import { latencies, rate } from '../store/measure.js';
import { FLAGS_PER_NAMESPACE, flagDocument, flagKey, namespaceOf } from '../store/workload.js';

const args = parseArgs();
const FLAGS = numberArg(args, 'flags', 1_000_000);
const SECONDS = numberArg(args, 'seconds', 5);
const random = (n: number) => Math.floor(Math.random() * n);
const PEERS = new Set((args.get('peers') === true ? '' : (stringArg(args, 'peers') ?? 'unleash')).split(','));
const unleash = PEERS.has('unleash') ? await unleashServerColumn(FLAGS, SECONDS) : undefined;
/** The peer's cell of a row, when the peer ran. */
const peer = (cell: (column: NonNullable<typeof unleash>) => string) => (unleash ? [cell(unleash)] : []);

const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-server-'));
const server = await startSwitchyard({
  args: ['serve', '--data', dir, '--rate-limit-per-token', '0', '--rate-limit-per-namespace', '0'],
  port: await freePort(),
});
const request = apiClient(server.url);
const apply = (from: number, to: number) => applyFlags(request, from, to, flagDocument);

const toggle = async (key: string): Promise<void> => {
  await request(
    'POST',
    `/api/v1/flags/${encodeURIComponent(key)}/environments/development/${Math.random() < 0.5 ? 'enable' : 'disable'}`,
  );
};

try {
  process.stderr.write('changes at 0 flags\n');
  await apply(0, 100);
  const changesAtZero = await rate(16, SECONDS, () => toggle(flagKey(random(100))));
  process.stderr.write(`applying ${FLAGS} flags\n`);
  const started = performance.now();
  await apply(100, FLAGS);
  const applySeconds = (performance.now() - started) / 1000;
  const rss = rssMiB(server.child.pid!);
  process.stderr.write(
    `applied in ${applySeconds.toFixed(1)} s; RSS ${rss.total.toFixed(0)} MiB; changes at ${FLAGS} flags\n`,
  );
  const changesAtFull = await rate(16, SECONDS, () => toggle(flagKey(random(FLAGS))));
  const getFlag = await latencies(1000, () =>
    request('GET', `/api/v1/flags/${encodeURIComponent(flagKey(random(FLAGS)))}`),
  );
  const queryPage = await latencies(200, () =>
    request('GET', `/api/v1/flags?prefix=${encodeURIComponent(`${namespaceOf(random(FLAGS))}/`)}&limit=100`),
  );
  const rssAfter = rssMiB(server.child.pid!);
  console.log(describeMachine(machineInfo()));
  console.log(
    `\nControl plane over HTTP on LMDB, ${FLAGS.toLocaleString('en')} flags (${FLAGS_PER_NAMESPACE} per namespace)\n`,
  );
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(
    renderTable(
      ['measure', 'switchyard', 'goal', ...peer(() => 'unleash 8.2')],
      [
        ['changes/s, 16 clients, ~0 flags', formatRate(changesAtZero), '', ...peer((u) => u.changesAtZero)],
        [
          `changes/s, 16 clients, ${FLAGS.toLocaleString('en')} flags`,
          formatRate(changesAtFull),
          '≥ 2,000',
          ...peer((u) => u.changesAtFull),
        ],
        [
          `apply ${FLAGS.toLocaleString('en')} flags (/api/v1/apply, 10,000 a request)`,
          `${applySeconds.toFixed(1)} s`,
          '≤ 90 s',
          ...peer((u) => u.apply),
        ],
        ['GET flag: p50 / p99', `${ms(getFlag.p50)} / ${ms(getFlag.p99)}`, 'p99 ≤ 10 ms', ...peer(() => '–')],
        [
          'query page of 100: p50 / p99',
          `${ms(queryPage.p50)} / ${ms(queryPage.p99)}`,
          'p99 ≤ 25 ms',
          ...peer(() => '–'),
        ],
        [
          'server RSS after apply / after the reads',
          `${rss.total.toFixed(0)} MiB / ${rssAfter.total.toFixed(0)} MiB`,
          '≤ 1.5 GiB',
          ...peer((u) => u.rss),
        ],
        [
          '  of which not file-backed (heap, not LMDB’s map)',
          `${rss.anonymous.toFixed(0)} MiB / ${rssAfter.anonymous.toFixed(0)} MiB`,
          '',
          ...peer(() => ''),
        ],
      ],
    ),
  );
  if (unleash) console.log(`\n${unleash.report}`);
  const json = stringArg(args, 'json');
  if (json !== undefined) {
    writeJsonReport(json, {
      machine: machineInfo(),
      flags: FLAGS,
      changesAtZero,
      changesAtFull,
      applySeconds,
      getFlag,
      queryPage,
      rss,
      rssAfter,
      unleash: unleash?.results ?? unleash?.skipped,
    });
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
