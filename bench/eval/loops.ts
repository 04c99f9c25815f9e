/**
 * The timed loops of the evaluation benchmark: cycle through the native contexts calling one flag
 * check, for at least a given time. Each engine runs in its own process, so these call sites only
 * ever see that engine's check.
 */
import { now } from '../harness/timing.js';
import type { Check } from '../peers/types.js';

export interface Round {
  evaluations: number;
  seconds: number;
  /** How many checks returned true: consumed by the report, so no call can be optimised away. */
  trues: number;
}

/** For a check that returns plain booleans. */
export function syncRound(
  check: (native: unknown) => boolean,
  natives: readonly unknown[],
  minSeconds: number,
): Round {
  const started = now();
  let evaluations = 0;
  let trues = 0;
  let seconds = 0;
  do {
    for (let i = 0; i < natives.length; i++) {
      if (check(natives[i])) trues++;
    }
    evaluations += natives.length;
    seconds = now() - started;
  } while (seconds < minSeconds);
  return { evaluations, seconds, trues };
}

/** For a check that returns promises: each one is awaited before the next call. */
export async function asyncRound(
  check: Check,
  natives: readonly unknown[],
  minSeconds: number,
): Promise<Round> {
  const started = now();
  let evaluations = 0;
  let trues = 0;
  let seconds = 0;
  do {
    for (let i = 0; i < natives.length; i++) {
      if (await check(natives[i])) trues++;
    }
    evaluations += natives.length;
    seconds = now() - started;
  } while (seconds < minSeconds);
  return { evaluations, seconds, trues };
}
