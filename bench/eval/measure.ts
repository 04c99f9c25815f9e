/**
 * One measurement of the evaluation benchmark: one engine, one scenario flag, the same 10,000
 * contexts for every engine. Correctness check first, then a warm-up, then timed rounds; the result
 * is the median rate of the rounds.
 */
import { checkExposure, type Exposure } from '../harness/exposure.js';
import { isThenable, median } from '../harness/timing.js';
import type { EvalFixture } from '../peers/types.js';
import { type EvalFlag, makeContexts } from '../scenarios.js';
import { asyncRound, type Round, syncRound } from './loops.js';

export const CONTEXT_COUNT = 10_000;

export interface EvalOptions {
  rounds: number;
  roundSeconds: number;
  warmupSeconds: number;
}

export interface EvalMeasurement {
  fixture: string;
  flag: EvalFlag;
  /** Whether the engine's check returns promises (then each evaluation is awaited). */
  async: boolean;
  /** The correctness check: the share of contexts that got `true`, against scenarios.ts. */
  check: Exposure;
  /** Median evaluations per second over the rounds. */
  rate: number;
  rounds: Round[];
  warmup: Round;
}

export async function measureEval(
  fixture: EvalFixture,
  flag: EvalFlag,
  options: EvalOptions,
): Promise<EvalMeasurement> {
  const session = await fixture.setup();
  try {
    const contexts = makeContexts(CONTEXT_COUNT);
    const natives = contexts.map((ctx) => session.context(ctx));
    const check = session.check(flag);

    const first = check(natives[0]);
    const async = isThenable(first);
    if (async) await first;
    const results: boolean[] = [];
    for (const native of natives) results.push((await check(native)) === true);
    const exposure = checkExposure(flag, contexts, results);

    const round = async
      ? (seconds: number) => asyncRound(check, natives, seconds)
      : (seconds: number) => syncRound(check as (native: unknown) => boolean, natives, seconds);
    const warmup = await round(options.warmupSeconds);
    const rounds: Round[] = [];
    for (let i = 0; i < options.rounds; i++) rounds.push(await round(options.roundSeconds));
    const rate = median(rounds.map((r) => r.evaluations / r.seconds));
    return { fixture: fixture.name, flag, async, check: exposure, rate, rounds, warmup };
  } finally {
    await session.close();
  }
}
