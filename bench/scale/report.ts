/** The scale benchmark's results: per-run lines, the summary table and the comparison at one size. */
import type { ChildOutcome } from '../harness/child.js';
import { type Comparison, compareToBestPeer } from '../harness/compare.js';
import { describeExposure } from '../harness/exposure.js';
import { invalidity, validResult } from '../harness/problems.js';
import { formatMiB, formatRate, formatRatio, formatSeconds, renderTable } from '../harness/table.js';
import type { ScaleMeasurement } from './measure.js';

export type ScaleResult = ScaleMeasurement & { network: string[] };

export interface ScaleRun {
  fixture: string;
  flags: number;
  outcome: ChildOutcome<ScaleResult>;
}

const count = (flags: number) => flags.toLocaleString('en-US');

export function runLabel(run: ScaleRun): string {
  return `${run.fixture} / ${count(run.flags)} flags`;
}

export function describeRun(run: ScaleRun): string {
  const head = `${run.fixture.padEnd(13)} ${count(run.flags).padStart(9)} flags`;
  if (!run.outcome.ok)
    return `${head}  FAILED after ${formatSeconds(run.outcome.seconds)}: ${run.outcome.reason}`;
  const r = run.outcome.result;
  const network = r.network.length > 0 ? `  NETWORK ACCESS: ${r.network.join(', ')}` : '';
  return (
    `${head}  load ${formatSeconds(r.loadSeconds)}, RSS +${formatMiB(r.rssIncreaseBytes)}, ` +
    `${formatRate(r.firstTouch.rate)} first touch, ${formatRate(r.warm.rate)} warm; ` +
    `check: ${describeExposure(r.check)}${network}`
  );
}

/** Rows: engine × flag count. A peak marked `*` covers the whole process, serialization included. */
export function renderScaleTable(runs: readonly ScaleRun[], fixtures: readonly string[]): string {
  const header = [
    'engine',
    'flags',
    'load',
    'RSS increase',
    'heap increase',
    'peak RSS',
    'first touch',
    'warm',
    'check',
  ];
  const rows: string[][] = [];
  for (const fixture of fixtures) {
    for (const run of runs.filter((r) => r.fixture === fixture)) {
      if (!run.outcome.ok) {
        rows.push([fixture, count(run.flags), 'failed', '', '', '', '', '', run.outcome.reason]);
        continue;
      }
      const r = run.outcome.result;
      rows.push([
        fixture,
        count(run.flags),
        formatSeconds(r.loadSeconds),
        formatMiB(r.rssIncreaseBytes),
        formatMiB(r.heapIncreaseBytes),
        `${formatMiB(r.peakRssBytes)}${r.peakSinceLoad ? '' : '*'}`,
        formatRate(r.firstTouch.rate),
        formatRate(r.warm.rate),
        invalidity(run.outcome) ?? 'ok',
      ]);
    }
  }
  return renderTable(header, rows);
}

interface Metric {
  label: string;
  lowerIsBetter: boolean;
  value(result: ScaleResult): number;
  format(value: number): string;
}

const METRICS: readonly Metric[] = [
  { label: 'load time', lowerIsBetter: true, value: (r) => r.loadSeconds, format: formatSeconds },
  { label: 'RSS increase', lowerIsBetter: true, value: (r) => r.rssIncreaseBytes, format: formatMiB },
  { label: 'heap increase', lowerIsBetter: true, value: (r) => r.heapIncreaseBytes, format: formatMiB },
  { label: 'peak RSS', lowerIsBetter: true, value: (r) => r.peakRssBytes, format: formatMiB },
  { label: 'first-touch evals/s', lowerIsBetter: false, value: (r) => r.firstTouch.rate, format: formatRate },
  { label: 'warm evals/s', lowerIsBetter: false, value: (r) => r.warm.rate, format: formatRate },
];

export interface MetricComparison extends Comparison {
  metric: string;
  lowerIsBetter: boolean;
  subjectValue: number | undefined;
}

/** Switchyard against the best peer on each metric, among the runs at one flag count. */
export function compareAt(runs: readonly ScaleRun[], flags: number, subject: string): MetricComparison[] {
  const atSize = runs.filter((r) => r.flags === flags);
  return METRICS.map((metric) => {
    const entries = atSize.map((run) => {
      const result = validResult(run.outcome);
      return { name: run.fixture, value: result ? metric.value(result) : undefined };
    });
    const own = entries.find((e) => e.name === subject);
    const others = entries.filter((e) => e.name !== subject);
    return {
      metric: metric.label,
      lowerIsBetter: metric.lowerIsBetter,
      subjectValue: own?.value,
      ...compareToBestPeer(own, others, metric.lowerIsBetter),
    };
  });
}

export function renderComparison(comparisons: readonly MetricComparison[]): string {
  const rows = comparisons.map((c) => {
    const metric = METRICS.find((m) => m.label === c.metric)!;
    const show = (value: number | undefined) => (value === undefined ? '–' : metric.format(value));
    return [
      `${c.metric} (${c.lowerIsBetter ? 'lower' : 'higher'} is better)`,
      show(c.subjectValue),
      show(c.bestValue),
      c.bestPeer ?? '–',
      formatRatio(c.ratio),
    ];
  });
  return renderTable(['metric', 'Switchyard', 'best peer', 'which', 'Switchyard / best peer'], rows);
}
