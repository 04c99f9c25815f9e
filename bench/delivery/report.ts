/** The delivery benchmark's results, and the report it prints: each goal of issue 5, met or not. */
import { renderTable } from '../harness/table.js';
import type { ColdStart } from './cold-start.js';
import type { PropagationResult } from './propagation.js';
import type { WrkResult } from './wrk.js';

type Rss = { total: number; anonymous: number };

export interface DeliveryResults {
  flags: number;
  connections: number;
  applySeconds: number;
  snapshot?: { cold: { ms: number; bytes: number }; warm: number[]; bytes: number };
  coldStarts?: ColdStart[];
  ofrep?: Omit<WrkResult, 'output'> & { warmup: Omit<WrkResult, 'output'> };
  direct?: PropagationResult;
  relay?: RelayPropagation;
  relayOne?: RelayPropagation;
  /** Phases that failed, with why. */
  failures: Record<string, string>;
  serverRss: Record<string, Rss>;
}

export type RelayPropagation = PropagationResult & { relayRss: Rss };

const MiB = 2 ** 20;
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : 'never');
const count = (n: number) => n.toLocaleString('en');
const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

function propagationRow(
  label: string,
  goalMs: number,
  result: PropagationResult | undefined,
  failure: string | undefined,
): string[] {
  if (result === undefined) return [label, `p99 ≤ ${goalMs} ms`, failure ? 'FAILED' : 'not run', ''];
  if (result.missing === result.count) {
    return [
      label,
      `p99 ≤ ${goalMs} ms`,
      `no change seen in ${count(result.count)} samples (nor in the warm-up's ${count(result.warmupMissing)})`,
      verdict(false),
    ];
  }
  const lost =
    result.missing + result.warmupMissing > 0
      ? `, ${count(result.missing)} never seen (${count(result.warmupMissing)} in the warm-up)`
      : '';
  return [
    label,
    `p99 ≤ ${goalMs} ms`,
    `${ms(result.p50)} / ${ms(result.p99)} (max ${ms(result.max)}, ${count(result.count)} samples${lost})`,
    verdict(result.p99 <= goalMs && result.missing === 0),
  ];
}

export function renderReport(r: DeliveryResults): string {
  const rows: string[][] = [];
  rows.push(
    propagationRow(
      `propagation, API ack → SDK change, p50 / p99, direct (${count(r.connections)} streams)`,
      50,
      r.direct,
      r.failures.direct,
    ),
  );
  rows.push(
    propagationRow(
      'propagation, API ack → SDK change, p50 / p99, through one relay of every namespace',
      100,
      r.relay,
      r.failures.relay,
    ),
  );
  if (r.relayOne !== undefined || r.failures['relay-one'] !== undefined) {
    rows.push(
      propagationRow(
        '  the same, the relay relaying only the measured namespace',
        100,
        r.relayOne,
        r.failures['relay-one'],
      ),
    );
  }
  if (r.ofrep) {
    const o = r.ofrep;
    const failed = o.non2xx + o.socketErrors > 0 ? `, ${count(o.non2xx + o.socketErrors)} failed` : '';
    rows.push([
      'OFREP single-flag evaluations/s, wrk 64 connections',
      '≥ 15,000/s',
      `${count(Math.round(o.requestsPerSecond))}/s${failed}`,
      verdict(o.requestsPerSecond >= 15_000 && o.non2xx + o.socketErrors === 0),
    ]);
    rows.push([
      'OFREP latency p50 / p99',
      'p99 ≤ 10 ms',
      `${ms(o.p50)} / ${ms(o.p99)}`,
      verdict(o.p99 <= 10),
    ]);
  }
  if (r.coldStarts) {
    const runs = r.coldStarts;
    rows.push([
      'SDK cold start, all flags: time to ready(), each run',
      '≤ 3 s',
      runs.map((c) => `${(c.ms / 1000).toFixed(2)} s`).join(' / '),
      verdict(runs.every((c) => c.ms <= 3000)),
    ]);
    rows.push([
      'SDK cold start: RSS increase at ready(), each run',
      '≤ 300 MiB',
      runs.map((c) => `${((c.rssReady - c.rssBefore) / MiB).toFixed(0)} MiB`).join(' / '),
      verdict(runs.every((c) => c.rssReady - c.rssBefore <= 300 * MiB)),
    ]);
    rows.push([
      '  the same after a full GC (client alive)',
      '',
      runs.map((c) => `${((c.rssAfterGc - c.rssBefore) / MiB).toFixed(0)} MiB`).join(' / '),
      '',
    ]);
  }
  if (r.snapshot) {
    const s = r.snapshot;
    rows.push([
      'snapshot of all flags: serve time cold / warm ×3',
      'report',
      `${ms(s.cold.ms)} / ${s.warm.map(ms).join(', ')}`,
      '',
    ]);
    rows.push([
      'snapshot size',
      'report',
      `${(s.bytes / MiB).toFixed(1)} MiB (${(s.bytes / 1e6).toFixed(1)} MB, ${Math.round(s.bytes / r.flags)} B a flag)`,
      '',
    ]);
  }
  const context: string[][] = [
    ['flags applied through /api/v1/apply', `${count(r.flags)} in ${r.applySeconds.toFixed(1)} s`],
  ];
  for (const [label, result] of [
    ['direct', r.direct],
    ['relay', r.relay],
    ['relay of one namespace', r.relayOne],
  ] as const) {
    if (result === undefined) continue;
    context.push([
      `${label}: first client to see a change p50 / p99; fastest sample`,
      `${ms(result.first.p50)} / ${ms(result.first.p99)}; ${ms(result.min)}`,
    ]);
    context.push([
      `${label}: the change's API call p50 / p99; all clients ready in`,
      `${ms(result.apiP50)} / ${ms(result.apiP99)}; ${(result.readyMs / 1000).toFixed(1)} s`,
    ]);
  }
  for (const [when, rss] of Object.entries(r.serverRss)) {
    context.push([
      `server RSS ${when} (not file-backed)`,
      `${rss.total.toFixed(0)} MiB (${rss.anonymous.toFixed(0)} MiB)`,
    ]);
  }
  for (const [label, result] of [
    ['relay', r.relay],
    ['relay of one namespace', r.relayOne],
  ] as const) {
    if (result === undefined) continue;
    context.push([
      `${label}: RSS (not file-backed)`,
      `${result.relayRss.total.toFixed(0)} MiB (${result.relayRss.anonymous.toFixed(0)} MiB)`,
    ]);
  }
  const failed = Object.entries(r.failures).map(([phase, why]) => `${phase} FAILED: ${why}`);
  const reference = [
    ['propagation', '1.1 s with a 1 s poll; 11 s by default; 9.4 s at 100k flags'],
    ['frontend API evaluations', '821 req/s at 100 flags; 6 req/s at 10k flags'],
    ['serving 100k flags', '4.0 s (42.8 MB)'],
  ];
  return [
    `\nDelivery, ${count(r.flags)} flags in the store\n`,
    renderTable(['measure', 'goal (#5)', 'measured', ''], rows),
    '',
    renderTable(['context', ''], context),
    ...(failed.length > 0 ? ['', ...failed] : []),
    '\nUnleash 8.2 (reference figures quoted from issue 5, not measured in this run):\n',
    renderTable(['measure', 'Unleash 8.2'], reference),
  ].join('\n');
}
