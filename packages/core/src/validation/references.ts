/**
 * Checks between documents: prerequisites name existing flags and variations and form no cycle (nor a
 * chain deeper than the limit), and segment references name existing segments. They run from one flag
 * through a lookup, so checking a change costs the length of its chains, not the size of the flag set.
 */
import type { FlagDocument, Prerequisite } from '../document/schema.js';
import { LIMITS } from '../document/schema.js';
import { didYouMean, type IssueList } from './issues.js';

/** Read access to the rest of the flag set. */
export interface FlagSetLookup {
  /** The flag's variation names, or undefined when no such flag exists. */
  variations(flagKey: string): readonly string[] | undefined;
  /** The flag's prerequisites in an environment (empty when none). */
  prerequisites(flagKey: string, environment: string): readonly Prerequisite[];
  segmentExists(segmentKey: string): boolean;
}

/** Adds the reference problems of `flag` (as it would be stored) to `issues`. */
export function referenceIssues(flag: FlagDocument, lookup: FlagSetLookup, issues: IssueList): void {
  for (const [env, state] of Object.entries(flag.environments)) {
    state.prerequisites?.forEach((p, i) => {
      const at = ['environments', env, 'prerequisites', i];
      const variations = p.flag === flag.key ? Object.keys(flag.variations) : lookup.variations(p.flag);
      if (variations === undefined)
        issues.add([...at, 'flag'], `prerequisite flag "${p.flag}" does not exist`);
      else if (!variations.includes(p.variation)) {
        issues.add(
          [...at, 'variation'],
          `flag "${p.flag}" has no variation "${p.variation}"${didYouMean(p.variation, variations)}`,
        );
      }
    });
    const problem = chainProblem(flag, env, lookup);
    if (problem !== undefined) issues.add(['environments', env, 'prerequisites'], problem);
    forEachSegmentReference(state, (key, path) => {
      if (!lookup.segmentExists(key))
        issues.add(['environments', env, ...path], `segment "${key}" does not exist`);
    });
  }
}

/** A cycle through `flag`, or a chain deeper than the limit, in one environment. */
function chainProblem(flag: FlagDocument, env: string, lookup: FlagSetLookup): string | undefined {
  const own = flag.environments[env]?.prerequisites ?? [];
  const prerequisitesOf = (key: string) => (key === flag.key ? own : lookup.prerequisites(key, env));
  const depthOf = new Map<string, number>();
  const trail: string[] = [];
  let problem: string | undefined;
  const visit = (key: string): number => {
    if (problem !== undefined) return 0;
    const known = depthOf.get(key);
    if (known !== undefined) return known;
    if (trail.includes(key)) {
      problem = `prerequisites form a cycle: ${[...trail.slice(trail.indexOf(key)), key].join(' → ')}`;
      return 0;
    }
    trail.push(key);
    let depth = 0;
    for (const p of prerequisitesOf(key)) depth = Math.max(depth, 1 + visit(p.flag));
    trail.pop();
    depthOf.set(key, depth);
    return depth;
  };
  const depth = visit(flag.key);
  if (problem === undefined && depth > LIMITS.prerequisiteDepth) {
    problem = `prerequisites chain ${depth} flags deep; the limit is ${LIMITS.prerequisiteDepth}`;
  }
  return problem;
}

type SegmentVisitor = (segmentKey: string, path: (string | number)[]) => void;

/** Calls `visit` for every segment key that a state's rules (and regions and schedule) reference. */
export function forEachSegmentReference(
  state: FlagDocument['environments'][string],
  visit: SegmentVisitor,
): void {
  const rules = (list: FlagDocument['environments'][string]['rules'], path: (string | number)[]) =>
    list?.forEach((rule, i) => {
      rule.when?.forEach((c, j) => {
        if (c.op === 'inSegment' || c.op === 'notInSegment') {
          c.values?.forEach((v, k) => {
            visit(String(v), [...path, i, 'when', j, 'values', k]);
          });
        }
      });
    });
  rules(state.rules, ['rules']);
  for (const [region, o] of Object.entries(state.regions ?? {})) rules(o.rules, ['regions', region, 'rules']);
  state.schedule?.forEach((step, s) => {
    rules(step.set.rules, ['schedule', s, 'set', 'rules']);
    for (const [region, o] of Object.entries(step.set.regions ?? {})) {
      rules(o.rules, ['schedule', s, 'set', 'regions', region, 'rules']);
    }
  });
}
