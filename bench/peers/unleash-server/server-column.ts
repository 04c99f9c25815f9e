/**
 * The Unleash column of `npm run bench:server` (`--peers=unleash`, the default): Unleash 8.2 on
 * PostgreSQL grown through its import API to 100, 1,000 and 10,000 flags, changes/s over its admin API
 * at each, its memory; counts it cannot reach in reasonable time are reported with the import time they
 * would take at the measured rate. When it cannot be set up, the column says why and the run goes on.
 */
import { formatRate } from '../../harness/table.js';
import { formatDuration, measureUnleash, renderUnleashReport, type UnleashResults } from './measure.js';

export interface UnleashColumn {
  changesAtZero: string;
  changesAtFull: string;
  apply: string;
  rss: string;
  /** The peer's own table (or why it was not measured), printed after the comparison. */
  report: string;
  results?: UnleashResults;
  skipped?: string;
}

const COUNTS = [100, 1000, 10_000];

export async function unleashServerColumn(flags: number, seconds: number): Promise<UnleashColumn> {
  let results: UnleashResults;
  try {
    results = await measureUnleash({
      counts: COUNTS.filter((n) => n < flags).concat(flags <= 10_000 ? [flags] : []),
      extrapolate: flags > 10_000 ? [flags] : [],
      phases: new Set(['changes']),
      oneByOne: 0,
      importBatch: 1000,
      seconds,
      changes: 0,
      defaultPollChanges: 0,
      wrkSeconds: 0,
      wrkWarmupSeconds: 0,
      waitMinutes: 30,
    });
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!;
    process.stderr.write(`unleash peer: not measured: ${(error as Error).message}\n`);
    const cell = 'not measured';
    return {
      changesAtZero: cell,
      changesAtFull: cell,
      apply: cell,
      rss: cell,
      report: `Unleash 8.2 on PostgreSQL: not measured (${reason}); npm run bench:server -- --peers= skips it.`,
      skipped: reason,
    };
  }
  const first = results.atCounts[0]!;
  const last = results.atCounts.at(-1)!;
  const count = (n: number) => n.toLocaleString('en');
  const reached = last.flags >= flags;
  const extrapolated = results.extrapolated[0];
  const notReached = extrapolated
    ? `not measured (import ≈ ${formatDuration(extrapolated.importSeconds)})`
    : 'not measured';
  return {
    changesAtZero: `${formatRate(first.changes16)} at ${count(first.flags)}`,
    changesAtFull: reached
      ? formatRate(last.changes16)
      : `${notReached}; ${formatRate(last.changes16)} at ${count(last.flags)}`,
    apply: reached
      ? `${results.atCounts.reduce((sum, c) => sum + (c.importSeconds ?? 0), 0).toFixed(1)} s (import API)`
      : notReached,
    rss: `${last.unleashRssMiB.toFixed(0)} MiB at ${count(last.flags)} (+ PostgreSQL ${last.postgresPssMiB.toFixed(0)})`,
    report: renderUnleashReport(results),
    results,
  };
}
