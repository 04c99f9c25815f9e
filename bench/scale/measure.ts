/**
 * One measurement of the scale benchmark, run in a fresh child process: one engine, one flag count.
 *
 * 1. serialize the flags (not timed); the serialized data stays referenced throughout, so it is part
 *    of every engine's baseline alike;
 * 2. collect garbage, read RSS (baseline) and reset the peak-RSS mark;
 * 3. time `load`, including awaiting readiness;
 * 4. collect garbage, read RSS: the increase over the baseline is the loaded engine's footprint;
 * 5. evaluate random flags: a first-touch pass right after loading, then a warm pass over the same
 *    (flag, context) sequence;
 * 6. check a sample of results against the targeted rule (after timing, so it touches nothing first).
 */
import { checkExposure, type Exposure } from '../harness/exposure.js';
import { now } from '../harness/timing.js';
import type { ScaleFixture, ScaleSession } from '../peers/types.js';
import { type BenchContext, makeContexts, prng, scaleFlagKey } from '../scenarios.js';
import { collectGarbage, heapBytes, peakResidentBytes, resetPeakResident, residentBytes } from './memory.js';
import { evaluationPass, type Pass } from './passes.js';

const CONTEXT_COUNT = 10_000;
const SAMPLE_SIZE = 20_000;
const FLAG_SEED = 1234;
const SAMPLE_SEED = 5678;

export interface ScaleMeasurement {
  fixture: string;
  flags: number;
  serializedBytes: number;
  loadSeconds: number;
  rssBaselineBytes: number;
  rssAfterLoadBytes: number;
  rssIncreaseBytes: number;
  /** The same increase in live heap plus external memory (less noisy than RSS, blind to native memory). */
  heapIncreaseBytes: number;
  /** Peak RSS from the start of `load` to the end of the passes (or over the process, see below). */
  peakRssBytes: number;
  peakSinceLoad: boolean;
  firstTouch: Pass;
  warm: Pass;
  /** A sample of random (flag, context) results checked against the targeted rule. */
  check: Exposure;
}

/** `log` receives progress lines (the parent shows the last ones if the child fails or times out). */
export async function measureScale(
  fixture: ScaleFixture,
  flags: number,
  evaluations: number,
  log: (line: string) => void,
): Promise<ScaleMeasurement> {
  const contexts = makeContexts(CONTEXT_COUNT);
  // Keys are built and interned before the baseline, as string literals in application code are.
  const flagKeys = Array.from(randomIndexes(evaluations, flags, FLAG_SEED), (i) => intern(scaleFlagKey(i)));
  log(`${fixture.name}: serializing ${flags} flags`);
  const serialized = fixture.serialize(flags);
  const serializedBytes = typeof serialized === 'string' ? Buffer.byteLength(serialized) : serialized.length;

  collectGarbage();
  const rssBaselineBytes = residentBytes();
  const heapBaselineBytes = heapBytes();
  const peakSinceLoad = resetPeakResident();
  log(`${fixture.name}: loading ${serializedBytes} bytes (baseline RSS ${rssBaselineBytes} bytes)`);
  const started = now();
  const session = await fixture.load(serialized);
  const loadSeconds = now() - started;
  collectGarbage();
  const rssAfterLoadBytes = residentBytes();
  const heapIncreaseBytes = heapBytes() - heapBaselineBytes;

  try {
    log(`${fixture.name}: loaded in ${loadSeconds.toFixed(3)} s, RSS ${rssAfterLoadBytes} bytes; evaluating`);
    const natives = contexts.map((ctx) => session.context(ctx));
    const firstTouch = await evaluationPass(session, flagKeys, natives);
    log(`${fixture.name}: first-touch pass ${firstTouch.rate.toFixed(0)}/s`);
    const warm = await evaluationPass(session, flagKeys, natives);
    log(`${fixture.name}: warm pass ${warm.rate.toFixed(0)}/s; checking a sample`);
    const peakRssBytes = peakResidentBytes();
    const check = await checkSample(session, contexts, natives, flags);
    // Keeps the serialized data alive (and so in the baseline) until the measurements are done.
    if (serialized.length === 0) throw new Error(`${fixture.name}: empty serialized data`);
    return {
      fixture: fixture.name,
      flags,
      serializedBytes,
      loadSeconds,
      rssBaselineBytes,
      rssAfterLoadBytes,
      rssIncreaseBytes: rssAfterLoadBytes - rssBaselineBytes,
      heapIncreaseBytes,
      peakRssBytes,
      peakSinceLoad,
      firstTouch,
      warm,
      check,
    };
  } finally {
    await session.close();
  }
}

/** The interned (flat, deduplicated) copy of a string: property keys are interned by V8. */
function intern(text: string): string {
  return Object.keys({ [text]: true })[0]!;
}

function randomIndexes(count: number, below: number, seed: number): Int32Array {
  const random = prng(seed);
  const indexes = new Int32Array(count);
  for (let i = 0; i < count; i++) indexes[i] = Math.floor(random() * below);
  return indexes;
}

async function checkSample(
  session: ScaleSession,
  contexts: readonly BenchContext[],
  natives: readonly unknown[],
  flags: number,
): Promise<Exposure> {
  const random = prng(SAMPLE_SEED);
  const sampled: BenchContext[] = [];
  const results: boolean[] = [];
  for (let i = 0; i < SAMPLE_SIZE; i++) {
    const c = Math.floor(random() * contexts.length);
    const result = await session.evaluate(scaleFlagKey(Math.floor(random() * flags)), natives[c]);
    sampled.push(contexts[c]!);
    results.push(result === true);
  }
  return checkExposure('targeted', sampled, results);
}
