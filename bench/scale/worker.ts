/**
 * Child process of the scale benchmark: measures one engine at one flag count and prints the result.
 * Usage (with node --expose-gc): worker.ts --fixture=<name> --flags=<count> [--evaluations=1000000]
 */
import { numberArg, parseArgs, stringArg } from '../harness/args.js';
import { emitResultAndExit } from '../harness/child.js';
import { blockNetwork, networkAttempts } from '../harness/network-guard.js';
import { measureScale } from './measure.js';

blockNetwork();
// Imported only now, so that no SDK module runs before the network is blocked.
const { fixtureNamed, scaleFixtures } = await import('../harness/fixtures.js');

const args = parseArgs();
const fixture = fixtureNamed(await scaleFixtures(), stringArg(args, 'fixture') ?? '');
const flags = Math.round(numberArg(args, 'flags', 100_000));
const evaluations = Math.round(numberArg(args, 'evaluations', 1_000_000));

const measurement = await measureScale(fixture, flags, evaluations, (line) => console.error(line));
emitResultAndExit({ ...measurement, network: networkAttempts() });
