/** The evaluation benchmark's tunables, read by both the runner and its worker. */
import { type Args, numberArg } from '../harness/args.js';
import type { EvalOptions } from './measure.js';

export function evalOptions(args: Args): EvalOptions {
  return {
    rounds: Math.round(numberArg(args, 'rounds', 5)),
    roundSeconds: numberArg(args, 'round-seconds', 0.5),
    warmupSeconds: numberArg(args, 'warmup-seconds', 0.5),
  };
}

/** The same options as worker arguments. */
export function evalOptionArgs(options: EvalOptions): string[] {
  return [
    `--rounds=${options.rounds}`,
    `--round-seconds=${options.roundSeconds}`,
    `--warmup-seconds=${options.warmupSeconds}`,
  ];
}
