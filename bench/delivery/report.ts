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
  relay?: PropagationResult | { skipped: string };
  serverRss: Record<string, Rss>;
  relayRss?: Rss;
}

const MiB = 2 ** 20;
const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
const count = (n: number) => n.toLocaleString('en');
const verdict = (met: boolean) => (met ? 'met' : 'NOT MET');

function propagationRow(label: string, goalMs: number, result: DeliveryResults['relay']): string[] {
  if (result === undefined) return [label, `p99 ≤ ${goalMs} ms`, 'not run', ''];
  if ('skipped' in result) return [label, `p99 ≤ ${goalMs} ms`, `skipped: ${result.skipped}`, ''];
  const lost = result.missing > 0 ? `, ${count(result.missing)} never seen` : '';
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
    ),
  );
  rows.push(propagationRow('propagation, API ack → SDK change, p50 / p99, through one relay', 100, r.relay));
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
  ] as const) {
    if (result === undefined || 'skipped' in result) continue;
    context.push([
      `${label}: change API call p50 / p99; fastest sample; clients ready`,
      `${ms(result.apiP50)} / ${ms(result.apiP99)}; ${ms(result.min)}; ${(result.readyMs / 1000).toFixed(1)} s`,
    ]);
  }
  for (const [when, rss] of Object.entries(r.serverRss)) {
    context.push([
      `server RSS ${when} (not file-backed)`,
      `${rss.total.toFixed(0)} MiB (${rss.anonymous.toFixed(0)} MiB)`,
    ]);
  }
  if (r.relayRss) {
    context.push([
      'relay RSS (not file-backed)',
      `${r.relayRss.total.toFixed(0)} MiB (${r.relayRss.anonymous.toFixed(0)} MiB)`,
    ]);
  }
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
    '\nUnleash 8.2 (reference figures quoted from issue 5, not measured in this run):\n',
    renderTable(['measure', 'Unleash 8.2'], reference),
  ].join('\n');
}
