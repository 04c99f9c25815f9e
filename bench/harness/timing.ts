/** The clock and statistics shared by the benchmarks. */
import { performance } from 'node:perf_hooks';

/** Seconds on a monotonic clock. */
export function now(): number {
  return performance.now() / 1000;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Whether an engine's answer is a promise (its API is async) rather than a plain value. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
