/**
 * Child process of the evaluation benchmark: measures one engine on one flag and prints the result.
 * Usage: worker.ts --fixture=<name> --flag=<simple|rollout|targeted> [--rounds --round-seconds --warmup-seconds]
 */
import { parseArgs, stringArg } from '../harness/args.js';
import { emitResultAndExit } from '../harness/child.js';
import { blockNetwork, networkAttempts } from '../harness/network-guard.js';
import { EVAL_FLAGS, type EvalFlag } from '../scenarios.js';
import { type EvalOptions, measureEval } from './measure.js';
import { evalOptions } from './options.js';

blockNetwork();
// Imported only now, so that no SDK module runs before the network is blocked.
const { evalFixtures, fixtureNamed } = await import('../harness/fixtures.js');

const args = parseArgs();
const flag = stringArg(args, 'flag');
if (flag === undefined || !(flag in EVAL_FLAGS))
  throw new Error(`--flag must be one of ${Object.keys(EVAL_FLAGS)}`);
const fixture = fixtureNamed(await evalFixtures(), stringArg(args, 'fixture') ?? '');
const options: EvalOptions = evalOptions(args);

const measurement = await measureEval(fixture, flag as EvalFlag, options);
emitResultAndExit({ ...measurement, network: networkAttempts() });
