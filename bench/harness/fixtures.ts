/**
 * The engines a benchmark runs: Switchyard's own fixture first when bench/peers/switchyard.ts exists
 * (it is imported dynamically, so the benchmarks run the peers alone until it does), then the peers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { peerEvalFixtures, peerScaleFixtures } from '../peers/index.js';
import type { EvalFixture, ScaleFixture } from '../peers/types.js';

/** Relative to this file; a variable, so the type checker does not require the module to exist. */
const SUBJECT_MODULE = '../peers/switchyard.js';

export interface FixtureSet<F> {
  /** Switchyard's fixture, when present and selected. */
  subject: F | undefined;
  /** Whether bench/peers/switchyard.ts exists (it may exist but not be selected by `--only`). */
  subjectFound: boolean;
  /** All selected fixtures, the subject first. */
  all: F[];
}

export async function evalFixtures(only?: string): Promise<FixtureSet<EvalFixture>> {
  const subject = await importSubject<EvalFixture>('evalFixture', (f) => typeof f.setup === 'function');
  return select(subject, peerEvalFixtures, only);
}

export async function scaleFixtures(only?: string): Promise<FixtureSet<ScaleFixture>> {
  const subject = await importSubject<ScaleFixture>(
    'scaleFixture',
    (f) => typeof f.serialize === 'function' && typeof f.load === 'function',
  );
  return select(subject, peerScaleFixtures, only);
}

/** The fixture called `name` (case-insensitive), or an error listing the names there are. */
export function fixtureNamed<F extends { name: string }>(set: FixtureSet<F>, name: string): F {
  const found = set.all.find((f) => f.name.toLowerCase() === name.toLowerCase());
  if (!found) throw new Error(`no fixture "${name}"; there are: ${set.all.map((f) => f.name).join(', ')}`);
  return found;
}

async function importSubject<F extends { name: string }>(
  exportName: 'evalFixture' | 'scaleFixture',
  hasMethods: (candidate: Record<string, unknown>) => boolean,
): Promise<F | undefined> {
  const base = fileURLToPath(new URL(SUBJECT_MODULE, import.meta.url)).replace(/\.js$/, '');
  if (!existsSync(`${base}.ts`) && !existsSync(`${base}.js`)) return undefined;
  const module = (await import(SUBJECT_MODULE)) as Record<string, unknown>;
  const fixture = module[exportName];
  if (typeof fixture !== 'object' || fixture === null) {
    throw new Error(`${SUBJECT_MODULE} does not export ${exportName}`);
  }
  const candidate = fixture as Record<string, unknown>;
  if (typeof candidate.name !== 'string' || !hasMethods(candidate)) {
    throw new Error(`${SUBJECT_MODULE}: ${exportName} does not implement the fixture interface`);
  }
  return candidate as unknown as F;
}

function select<F extends { name: string }>(
  subject: F | undefined,
  peers: readonly F[],
  only: string | undefined,
): FixtureSet<F> {
  const all = subject ? [subject, ...peers] : [...peers];
  const names = new Set<string>();
  for (const f of all) {
    if (names.has(f.name.toLowerCase())) throw new Error(`two fixtures are called "${f.name}"`);
    names.add(f.name.toLowerCase());
  }
  const set: FixtureSet<F> = { subject, subjectFound: subject !== undefined, all };
  if (only === undefined) return set;
  const chosen = fixtureNamed(set, only);
  return { ...set, subject: chosen === subject ? subject : undefined, all: [chosen] };
}
