/**
 * The evaluation benchmark (`npm run bench:eval`): evaluations per second of each engine on the
 * three scenario flags of scenarios.ts, over the same 10,000 contexts. Each engine × flag runs in
 * its own child process (see worker.ts), so no engine is measured with JIT state left by another.
 *
 * Options: --only=<fixture>  --json <file>  --rounds=5  --round-seconds=0.5  --warmup-seconds=0.5
 *          --timeout-min=5
 */
import { numberArg, parseArgs, stringArg } from '../harness/args.js';
import { runChild } from '../harness/child.js';
import { evalFixtures } from '../harness/fixtures.js';
import { describeMachine, machineInfo } from '../harness/machine.js';
import { writeJsonReport } from '../harness/output.js';
import { describeProblems } from '../harness/problems.js';
import { EVAL_FLAGS, type EvalFlag } from '../scenarios.js';
import { CONTEXT_COUNT } from './measure.js';
import { evalOptionArgs, evalOptions } from './options.js';
import {
  compareFlag,
  describeRun,
  type EvalResult,
  type EvalRun,
  renderEvalTable,
  runLabel,
} from './report.js';

const WORKER = new URL('./worker.ts', import.meta.url);

const args = parseArgs();
const options = evalOptions(args);
const timeoutMs = numberArg(args, 'timeout-min', 5) * 60_000;
const jsonFile = stringArg(args, 'json');
const { subject, subjectFound, all } = await evalFixtures(stringArg(args, 'only'));
const fixtures = all.map((f) => f.name);
const flags = Object.keys(EVAL_FLAGS) as EvalFlag[];
const machine = machineInfo();

console.log('Switchyard evaluation benchmark');
console.log(describeMachine(machine));
console.log(
  `${CONTEXT_COUNT.toLocaleString('en-US')} contexts; per engine and flag: correctness check, ` +
    `${options.warmupSeconds} s warm-up, median of ${options.rounds} rounds of ≥ ${options.roundSeconds} s`,
);
console.log(
  `Engines: ${fixtures.join(', ')}${subjectFound ? '' : ' (no bench/peers/switchyard.ts: peers only)'}\n`,
);

const runs: EvalRun[] = [];
for (const fixture of fixtures) {
  for (const flag of flags) {
    const outcome = await runChild<EvalResult>(
      WORKER,
      [`--fixture=${fixture}`, `--flag=${flag}`, ...evalOptionArgs(options)],
      { timeoutMs },
    );
    const run: EvalRun = { fixture, flag, outcome };
    runs.push(run);
    console.log(describeRun(run));
  }
}

console.log(`\n${renderEvalTable(runs, fixtures, flags, subject?.name)}`);
const problems = describeProblems(runs.map((run) => ({ label: runLabel(run), outcome: run.outcome })));
if (problems.length > 0) console.log(`\nProblems (excluded from the comparison):\n${problems.join('\n')}`);

if (jsonFile) {
  const path = writeJsonReport(jsonFile, {
    benchmark: 'eval',
    machine,
    options,
    contexts: CONTEXT_COUNT,
    subject: subject?.name ?? null,
    fixtures,
    comparison: Object.fromEntries(flags.map((flag) => [flag, compareFlag(runs, flag, subject?.name)])),
    runs,
  });
  console.log(`\nResults written to ${path}`);
}
