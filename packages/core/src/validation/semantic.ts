/**
 * Semantic checks of one document, after it passed the schema: references to variations exist and
 * values fit the flag's type, weights sum to 100%, operators get values of their kind, regexes are
 * safe, windows are ordered, rule ids are unique, the schedule is in order.
 */
import { BUCKETS } from '../bucketing/bucket.js';
import { parseInstant } from '../conditions/instant.js';
import { patternProblem } from '../conditions/pattern.js';
import { parseSemver } from '../conditions/semver.js';
import { FLAG_KEY } from '../document/names.js';
import {
  type Condition,
  type EnvironmentState,
  type FlagDocument,
  LIMITS,
  type RegionOverride,
  type Rule,
  type SegmentDocument,
  type Serve,
  type StatePatch,
  type Targets,
} from '../document/schema.js';
import { describeType, didYouMean, type IssueList, type PathSegment } from './issues.js';

type Path = readonly PathSegment[];

const STRING_OPS = new Set(['startsWith', 'endsWith', 'contains', 'matches']);
const NUMBER_OPS = new Set(['lt', 'lte', 'gt', 'gte']);
const TIME_OPS = new Set(['before', 'after']);
const SEGMENT_OPS = new Set(['inSegment', 'notInSegment']);

/** Checks one condition; `allowSegments` is false inside segment rules. */
export function checkCondition(c: Condition, path: Path, issues: IssueList, allowSegments: boolean): void {
  const { op } = c;
  if (SEGMENT_OPS.has(op)) {
    if (!allowSegments) issues.add([...path, 'op'], `"${op}" cannot be used inside a segment's rules`);
    if (c.attribute !== undefined) {
      issues.add(
        [...path, 'attribute'],
        `"${op}" matches on segments and reads no attribute; remove "attribute"`,
      );
    }
  } else if (c.attribute === undefined) {
    issues.add([...path, 'attribute'], `required field "attribute" is missing for operator "${op}"`);
  }
  if (op === 'exists') {
    if (c.values !== undefined) issues.add([...path, 'values'], '"exists" takes no values; remove "values"');
    return;
  }
  if (c.values === undefined) {
    issues.add([...path, 'values'], `required field "values" is missing for operator "${op}"`);
    return;
  }
  c.values.forEach((value, i) => {
    const at = [...path, 'values', i];
    if (STRING_OPS.has(op) || SEGMENT_OPS.has(op) || op.startsWith('semver')) {
      if (typeof value !== 'string') {
        issues.add(at, `"${op}" compares strings; ${JSON.stringify(value)} is ${describeType(value)}`);
        return;
      }
    }
    if (op === 'matches') {
      const problem = patternProblem(value as string);
      if (problem !== undefined) issues.add(at, problem);
    } else if (NUMBER_OPS.has(op) && (typeof value !== 'number' || !Number.isFinite(value))) {
      issues.add(at, `"${op}" compares numbers; ${JSON.stringify(value)} is ${describeType(value)}`);
    } else if (TIME_OPS.has(op) && parseInstant(value) === undefined) {
      issues.add(
        at,
        `"${op}" compares instants; ${JSON.stringify(value)} is neither an RFC 3339 date-time with an offset nor epoch milliseconds`,
      );
    } else if (op.startsWith('semver') && parseSemver(value as string) === undefined) {
      issues.add(at, `${JSON.stringify(value)} is not a semantic version (e.g. "2.3.0", "1.0.0-beta.2")`);
    } else if (SEGMENT_OPS.has(op) && !FLAG_KEY.regex.test(value as string)) {
      issues.add(at, `${JSON.stringify(value)} is not a segment key (${FLAG_KEY.describe})`);
    }
  });
}

/** Rollout weights are percentages with at most three decimals. Returns thousandths of a percent. */
export function weightInBuckets(percent: number): number | undefined {
  const buckets = Math.round(percent * 1000);
  return Math.abs(buckets - percent * 1000) < 1e-6 ? buckets : undefined;
}

/** Validates the targeting of one flag: everything that names its variations. */
class FlagChecker {
  private readonly variations: string[];

  constructor(
    private readonly flag: FlagDocument,
    private readonly issues: IssueList,
  ) {
    this.variations = Object.keys(flag.variations);
  }

  check(): void {
    this.checkVariations();
    for (const [env, state] of Object.entries(this.flag.environments)) {
      this.checkState(state, ['environments', env]);
    }
  }

  private checkVariations(): void {
    const { type } = this.flag;
    for (const [name, value] of Object.entries(this.flag.variations)) {
      const at = ['variations', name];
      const ok =
        type === 'boolean'
          ? typeof value === 'boolean'
          : type === 'string'
            ? typeof value === 'string' && value.length <= LIMITS.stringValue
            : type === 'number'
              ? typeof value === 'number' && Number.isFinite(value)
              : value !== undefined;
      if (!ok) {
        this.issues.add(at, `a ${type} flag's variation must be a ${type}; this is ${describeType(value)}`);
      } else if (type === 'json' && JSON.stringify(value).length > LIMITS.jsonVariationBytes) {
        this.issues.add(at, `a json variation is limited to ${LIMITS.jsonVariationBytes} bytes`);
      }
    }
  }

  private variation(name: string, path: Path): void {
    if (!this.variations.includes(name)) {
      this.issues.add(
        path,
        `unknown variation "${name}"${didYouMean(name, this.variations) || ` (the flag has ${this.variations.join(', ')})`}`,
      );
    }
  }

  private checkState(state: EnvironmentState, path: Path): void {
    this.checkTargeting(state, path);
    if (state.paused === true && state.pausedAt === undefined && state.schedule !== undefined) {
      this.issues.add(
        [...path, 'pausedAt'],
        'a paused state with a schedule needs "pausedAt", when it was paused',
      );
    }
    if (state.pausedAt !== undefined && state.paused !== true) {
      this.issues.add([...path, 'pausedAt'], '"pausedAt" is set but the state is not paused');
    }
    const prerequisites = new Set<string>();
    state.prerequisites?.forEach((p, i) => {
      if (p.flag === this.flag.key)
        this.issues.add([...path, 'prerequisites', i, 'flag'], 'a flag cannot be its own prerequisite');
      if (prerequisites.has(p.flag))
        this.issues.add([...path, 'prerequisites', i, 'flag'], `"${p.flag}" is listed twice`);
      prerequisites.add(p.flag);
    });
    for (const [region, override] of Object.entries(state.regions ?? {})) {
      this.checkTargeting(override, [...path, 'regions', region]);
    }
    let previous = -Infinity;
    state.schedule?.forEach((step, i) => {
      const at = parseInstant(step.at)!;
      if (at <= previous) {
        this.issues.add(
          [...path, 'schedule', i, 'at'],
          'steps must be in time order, each later than the one before',
        );
      }
      previous = at;
      this.checkPatch(step.set, [...path, 'schedule', i, 'set']);
    });
  }

  private checkPatch(patch: StatePatch, path: Path): void {
    this.checkTargeting(patch, path);
    for (const [region, override] of Object.entries(patch.regions ?? {})) {
      this.checkTargeting(override, [...path, 'regions', region]);
    }
  }

  private checkTargeting(t: RegionOverride, path: Path): void {
    if (t.offVariation !== undefined) this.variation(t.offVariation, [...path, 'offVariation']);
    if (t.targets !== undefined) this.checkTargets(t.targets, [...path, 'targets']);
    if (t.default !== undefined) this.checkServe(t.default, [...path, 'default']);
    if (t.rules !== undefined) this.checkRules(t.rules, [...path, 'rules']);
  }

  private checkTargets(targets: Targets, path: Path): void {
    for (const name of Object.keys(targets)) this.variation(name, [...path, name]);
  }

  private checkRules(rules: Rule[], path: Path): void {
    const ids = new Map<string, number>();
    rules.forEach((rule, i) => {
      const at = [...path, i];
      const first = ids.get(rule.id);
      if (first !== undefined)
        this.issues.add([...at, 'id'], `rule id "${rule.id}" is already used by rules[${first}]`);
      else ids.set(rule.id, i);
      rule.when?.forEach((c, j) => {
        checkCondition(c, [...at, 'when', j], this.issues, true);
      });
      if (rule.window !== undefined) {
        const { from, until } = rule.window;
        if (from === undefined && until === undefined) {
          this.issues.add([...at, 'window'], 'a window needs "from", "until" or both');
        } else if (from !== undefined && until !== undefined && parseInstant(from)! >= parseInstant(until)!) {
          this.issues.add([...at, 'window'], `the window ends (${until}) before or when it starts (${from})`);
        }
      }
      this.checkServe(rule.serve, [...at, 'serve']);
    });
  }

  private checkServe(serve: Serve, path: Path): void {
    if (typeof serve === 'string') {
      this.variation(serve, path);
      return;
    }
    let total = 0;
    for (const [name, percent] of Object.entries(serve.rollout)) {
      const at = [...path, 'rollout', name];
      this.variation(name, at);
      const buckets = weightInBuckets(percent);
      if (buckets === undefined) this.issues.add(at, `${percent}% has more than three decimals`);
      else total += buckets;
    }
    if (total !== BUCKETS) {
      this.issues.add([...path, 'rollout'], `weights add up to ${total / 1000}%, not 100%`);
    }
  }
}

export function flagSemanticIssues(flag: FlagDocument, issues: IssueList): void {
  new FlagChecker(flag, issues).check();
}

export function segmentSemanticIssues(segment: SegmentDocument, issues: IssueList): void {
  for (const [env, state] of Object.entries(segment.environments)) {
    const ids = new Set<string>();
    state.rules?.forEach((rule, i) => {
      const at = ['environments', env, 'rules', i];
      if (ids.has(rule.id)) issues.add([...at, 'id'], `rule id "${rule.id}" is used twice`);
      ids.add(rule.id);
      rule.when.forEach((c, j) => {
        checkCondition(c, [...at, 'when', j], issues, false);
      });
    });
  }
}
