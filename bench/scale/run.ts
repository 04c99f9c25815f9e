/**
 * The scale benchmark (`npm run bench:scale`): for each engine and flag count, load time, resident
 * memory and the rate of evaluating random flags, first right after loading and then warm. Each
 * measurement runs in its own child process (worker.ts) so that its memory readings start clean.
 *
 * Options: --sizes=100000,1000000  --only=<fixture>  --json <file>  --timeout-min=15
 *          --evaluations=1000000  --heap-mb=12288 (the children's V8 heap limit)  --verbose
 */
import { numberArg, numberListArg, parseArgs, stringArg } from '../harness/args.js';
import { runChild } from '../harness/child.js';
import { scaleFixtures } from '../harness/fixtures.js';
import { describeMachine, machineInfo } from '../harness/machine.js';
import { writeJsonReport } from '../harness/output.js';
import { describeProblems } from '../harness/problems.js';
import {
  compareAt,
  describeRun,
  renderComparison,
  renderScaleTable,
  runLabel,
  type ScaleResult,
  type ScaleRun,
} from './report.js';

const WORKER = new URL('./worker.ts', import.meta.url);

const args = parseArgs();
const sizes = numberListArg(args, 'sizes', [100_000, 1_000_000]);
const timeoutMinutes = numberArg(args, 'timeout-min', 15);
const evaluations = Math.round(numberArg(args, 'evaluations', 1_000_000));
const heapMb = Math.round(numberArg(args, 'heap-mb', 12_288));
const jsonFile = stringArg(args, 'json');
const { subject, subjectFound, all } = await scaleFixtures(stringArg(args, 'only'));
const fixtures = all.map((f) => f.name);
const machine = machineInfo();

console.log('Switchyard scale benchmark');
console.log(describeMachine(machine));
console.log(
  `Sizes: ${sizes.map((s) => s.toLocaleString('en-US')).join(', ')} flags; ` +
    `${evaluations.toLocaleString('en-US')} random-flag evaluations per pass; ` +
    `one child process per run (V8 heap limit ${heapMb} MiB, time limit ${timeoutMinutes} min)`,
);
console.log(
  `Engines: ${fixtures.join(', ')}${subjectFound ? '' : ' (no bench/peers/switchyard.ts: peers only)'}\n`,
);

const runs: ScaleRun[] = [];
for (const flags of sizes) {
  for (const fixture of fixtures) {
    const outcome = await runChild<ScaleResult>(
      WORKER,
      [`--fixture=${fixture}`, `--flags=${flags}`, `--evaluations=${evaluations}`],
      {
        timeoutMs: timeoutMinutes * 60_000,
        nodeFlags: [`--max-old-space-size=${heapMb}`],
        echoStderr: args.has('verbose'),
      },
    );
    const run: ScaleRun = { fixture, flags, outcome };
    runs.push(run);
    console.log(describeRun(run));
  }
}

console.log(`\n${renderScaleTable(runs, fixtures)}`);
if (runs.some((r) => r.outcome.ok && !r.outcome.result.peakSinceLoad)) {
  console.log('* peak over the whole child process, serialization included (peak RSS could not be reset)');
}
const largest = Math.max(...sizes);
const comparison = subject ? compareAt(runs, largest, subject.name) : undefined;
if (comparison) {
  console.log(`\nSwitchyard against the best peer at ${largest.toLocaleString('en-US')} flags:`);
  console.log(renderComparison(comparison));
}
const problems = describeProblems(runs.map((run) => ({ label: runLabel(run), outcome: run.outcome })));
if (problems.length > 0) console.log(`\nProblems (excluded from the comparison):\n${problems.join('\n')}`);

if (jsonFile) {
  const path = writeJsonReport(jsonFile, {
    benchmark: 'scale',
    machine,
    options: { sizes, evaluations, heapMb, timeoutMinutes },
    subject: subject?.name ?? null,
    fixtures,
    comparison: comparison ? { flags: largest, metrics: comparison } : null,
    runs,
  });
  console.log(`\nResults written to ${path}`);
}
