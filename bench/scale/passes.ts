/**
 * The scale benchmark's evaluation passes: a fixed sequence of (random flag, context) pairs,
 * evaluated one after the other. The first call tells whether the engine answers with promises.
 */
import { isThenable, now } from '../harness/timing.js';
import type { ScaleSession } from '../peers/types.js';

export interface Pass {
  evaluations: number;
  seconds: number;
  rate: number;
  /** How many evaluations returned true: reported, so no call can be optimised away. */
  trues: number;
  async: boolean;
}

export async function evaluationPass(
  session: ScaleSession,
  flagKeys: readonly string[],
  natives: readonly unknown[],
): Promise<Pass> {
  const count = flagKeys.length;
  const contexts = natives.length;
  const started = now();
  const first = session.evaluate(flagKeys[0]!, natives[0]);
  const async = isThenable(first);
  let trues = 0;
  if (async) {
    if (await first) trues++;
    for (let i = 1; i < count; i++) {
      if (await session.evaluate(flagKeys[i]!, natives[i % contexts])) trues++;
    }
  } else {
    if (first) trues++;
    const sync = session as { evaluate(flagKey: string, native: unknown): boolean };
    for (let i = 1; i < count; i++) {
      if (sync.evaluate(flagKeys[i]!, natives[i % contexts])) trues++;
    }
  }
  const seconds = now() - started;
  return { evaluations: count, seconds, rate: count / seconds, trues, async };
}
