/**
 * The Unleash peer on its own (`npm run bench:unleash`): a real unleash-server 8.2 on a PostgreSQL of its
 * own (bench/peers/unleash-server/setup.ts installs and starts both), grown through its import API to each
 * flag count, and at each one: changes/s over its admin API (1 and 16 clients), the time and size of
 * serving every flag to a backend SDK, propagation to an `unleash-client` SDK (poll 1 s, and the SDK's
 * default poll), frontend API evaluations/s with wrk (64 connections), and the memory of Unleash
 * and of PostgreSQL. Prints them beside the figures the issues quoted.
 *
 *   --flags=1000,10000   --extrapolate=100000,1000000   --one-by-one=100   --import-batch=1000
 *   --seconds=5   --changes=20   --default-poll-changes=6   --wrk-seconds=10   --wrk-warmup-seconds=3
 *   --wait-minutes=30 (longest wait for other benchmarks before each measurement)
 *   --phases=changes,serve,propagation,frontend   --json FILE
 */
import { numberArg, numberListArg, parseArgs, stringArg } from '../../harness/args.js';
import { describeMachine, machineInfo } from '../../harness/machine.js';
import { writeJsonReport } from '../../harness/output.js';
import { measureUnleash, PHASES, type Phase, renderUnleashReport } from './measure.js';

const args = parseArgs();
const phases = new Set((stringArg(args, 'phases') ?? PHASES.join(',')).split(',') as Phase[]);
for (const phase of phases) if (!PHASES.includes(phase)) throw new Error(`unknown phase "${phase}"`);
const defaultPollChanges =
  stringArg(args, 'default-poll-changes') === '0' ? 0 : numberArg(args, 'default-poll-changes', 6);

const results = await measureUnleash({
  counts: numberListArg(args, 'flags', [1000, 10_000]),
  extrapolate: numberListArg(args, 'extrapolate', [100_000, 1_000_000]),
  phases,
  oneByOne: stringArg(args, 'one-by-one') === '0' ? 0 : numberArg(args, 'one-by-one', 100),
  importBatch: numberArg(args, 'import-batch', 1000),
  seconds: numberArg(args, 'seconds', 5),
  changes: numberArg(args, 'changes', 20),
  defaultPollChanges,
  wrkSeconds: numberArg(args, 'wrk-seconds', 10),
  wrkWarmupSeconds: numberArg(args, 'wrk-warmup-seconds', 3),
  waitMinutes: numberArg(args, 'wait-minutes', 30),
});

/** What our issues quoted as measured on Unleash 8.2 (PostgreSQL), shown beside this run's figures. */
const QUOTED = {
  import: '10k flags in 150 s',
  changes16: '40/s at 1k; 0.2/s at 100k',
  propagation: '1.1 s',
  propagationDefault: '11 s; 9.4 s at 100k',
  frontend: '821/s at 100; 6/s at 10k',
  serve: '4.0 s at 100k',
  serveSize: '42.8 MB at 100k',
  rss: '866 MB at 100k',
};

console.log(describeMachine(machineInfo()));
console.log(`\n${renderUnleashReport(results, QUOTED)}`);
const json = stringArg(args, 'json');
if (json !== undefined) writeJsonReport(json, { machine: machineInfo(), ...results });
