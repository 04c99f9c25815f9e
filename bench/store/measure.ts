/** Timing helpers of the store benchmark: rates over a duration, and latency percentiles. */

export interface Latencies {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(samplesMs: number[]): Latencies {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** Runs `task` from `workers` concurrent loops for `seconds`; returns completed tasks per second. */
export async function rate(
  workers: number,
  seconds: number,
  task: (worker: number) => Promise<void>,
): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < until) {
        await task(w);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** Latency of `count` sequential runs of `task`, in ms. */
export async function latencies(count: number, task: (i: number) => Promise<unknown>): Promise<Latencies> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await task(i);
    samples.push(performance.now() - t);
  }
  return percentiles(samples);
}
