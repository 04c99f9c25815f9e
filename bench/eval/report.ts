/** The evaluation benchmark's results: per-run lines and the summary table. */
import type { ChildOutcome } from '../harness/child.js';
import { type Comparison, compareToBestPeer } from '../harness/compare.js';
import { describeExposure } from '../harness/exposure.js';
import { invalidity, validResult } from '../harness/problems.js';
import { formatRate, formatRatio, renderTable } from '../harness/table.js';
import type { EvalFlag } from '../scenarios.js';
import type { EvalMeasurement } from './measure.js';

export type EvalResult = EvalMeasurement & { network: string[] };

export interface EvalRun {
  fixture: string;
  flag: EvalFlag;
  outcome: ChildOutcome<EvalResult>;
}

export function runLabel(run: EvalRun): string {
  return `${run.fixture} / ${run.flag}`;
}

export function describeRun(run: EvalRun): string {
  const head = `${run.fixture.padEnd(13)} ${run.flag.padEnd(9)}`;
  if (!run.outcome.ok) return `${head} FAILED: ${run.outcome.reason}`;
  const r = run.outcome.result;
  const network = r.network.length > 0 ? `  NETWORK ACCESS: ${r.network.join(', ')}` : '';
  const mode = r.async ? 'async' : 'sync ';
  return `${head} ${formatRate(r.rate).padStart(10)}  ${mode}  check: ${describeExposure(r.check)}${network}`;
}

export function compareFlag(
  runs: readonly EvalRun[],
  flag: EvalFlag,
  subject: string | undefined,
): Comparison {
  const entries = runs
    .filter((run) => run.flag === flag)
    .map((run) => ({ name: run.fixture, value: validResult(run.outcome)?.rate }));
  return compareToBestPeer(
    entries.find((e) => e.name === subject),
    entries.filter((e) => e.name !== subject),
  );
}

/** Rows: flags; columns: each engine's evals/s, then Switchyard / best peer and the best peer. */
export function renderEvalTable(
  runs: readonly EvalRun[],
  fixtures: readonly string[],
  flags: readonly EvalFlag[],
  subject: string | undefined,
): string {
  const header = ['evals/s', ...fixtures, ...(subject ? ['Switchyard / best peer'] : []), 'best peer'];
  const rows = flags.map((flag) => {
    const comparison = compareFlag(runs, flag, subject);
    return [
      flag,
      ...fixtures.map((fixture) => cell(runs.find((r) => r.fixture === fixture && r.flag === flag))),
      ...(subject ? [formatRatio(comparison.ratio)] : []),
      comparison.bestPeer ?? '–',
    ];
  });
  return renderTable(header, rows);
}

function cell(run: EvalRun | undefined): string {
  if (!run) return '–';
  const why = invalidity(run.outcome);
  if (!run.outcome.ok) return why ?? 'failed';
  const rate = formatRate(run.outcome.result.rate);
  return why ? `${rate} (${why})` : rate;
}
