/**
 * Compiled conditions. Each operator's values are prepared once (sets, regexes, semvers, instants), and
 * a condition tests an attribute value with no further parsing of its own values.
 */
import { type AttributePath, attributePath, readAttribute } from '../conditions/attribute.js';
import { parseInstant } from '../conditions/instant.js';
import { compareSemver, parseSemver, type SemVer } from '../conditions/semver.js';
import type { Condition } from '../document/schema.js';

type Test = (value: unknown) => boolean;
type Context = Record<string, unknown>;

/** Resolves segments by key for `inSegment` / `notInSegment`. */
export interface SegmentResolver {
  inSegment(segmentKey: string, context: Context): boolean;
}

// perf: a small integer tag switches faster than comparing operator strings per evaluation.
const ATTRIBUTE = 0;
const EXISTS = 1;
const IN_SEGMENT = 2;
const NOT_IN_SEGMENT = 3;
export type ConditionKind = typeof ATTRIBUTE | typeof EXISTS | typeof IN_SEGMENT | typeof NOT_IN_SEGMENT;

export class CompiledCondition {
  constructor(
    readonly kind: ConditionKind,
    readonly path: AttributePath | null,
    readonly test: Test,
    readonly segments: readonly string[],
    readonly negate: boolean,
  ) {}
}

// perf: up to this many values a linear scan beats hashing into a Set.
const SMALL = 8;

/** Typed membership: strings match strings, numbers numbers, booleans booleans. */
function memberOf(values: readonly unknown[]): Test {
  const strings = values.filter((v): v is string => typeof v === 'string');
  const numbers = values.filter((v): v is number => typeof v === 'number');
  const booleans = values.filter((v): v is boolean => typeof v === 'boolean');
  if (numbers.length === 0 && booleans.length === 0) {
    if (strings.length === 1) {
      const only = strings[0];
      return (v) => v === only;
    }
    if (strings.length <= SMALL) return (v) => typeof v === 'string' && strings.includes(v);
    const set = new Set(strings);
    return (v) => typeof v === 'string' && set.has(v);
  }
  const stringSet = new Set(strings);
  const numberSet = new Set(numbers);
  return (v) =>
    typeof v === 'string'
      ? stringSet.has(v)
      : typeof v === 'number'
        ? numberSet.has(v)
        : typeof v === 'boolean' && booleans.includes(v);
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number, or a string holding a decimal number. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && DECIMAL.test(value)) return Number(value);
  return undefined;
}

function numeric(values: readonly unknown[], holds: (a: number, b: number) => boolean): Test {
  const bounds = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return (v) => {
    const a = asNumber(v);
    return a !== undefined && bounds.some((b) => holds(a, b));
  };
}

function temporal(values: readonly unknown[], holds: (a: number, b: number) => boolean): Test {
  const instants = values.map(parseInstant).filter((v): v is number => v !== undefined);
  return (v) => {
    const a = parseInstant(v);
    return a !== undefined && instants.some((b) => holds(a, b));
  };
}

function semver(values: readonly unknown[], holds: (order: number) => boolean): Test {
  const versions = values
    .map((v) => (typeof v === 'string' ? parseSemver(v) : undefined))
    .filter((v): v is SemVer => v !== undefined);
  return (v) => {
    if (typeof v !== 'string') return false;
    const a = parseSemver(v);
    return a !== undefined && versions.some((b) => holds(compareSemver(a, b)));
  };
}

function textual(values: readonly unknown[], holds: (a: string, b: string) => boolean): Test {
  const needles = values.filter((v): v is string => typeof v === 'string');
  if (needles.length === 1) {
    const only = needles[0]!;
    return (v) => typeof v === 'string' && holds(v, only);
  }
  return (v) => typeof v === 'string' && needles.some((b) => holds(v, b));
}

const never: Test = () => false;

function testFor(c: Condition): Test {
  const values = c.values ?? [];
  switch (c.op) {
    case 'eq':
    case 'in':
      return values.length === 0 ? never : memberOf(values);
    case 'neq':
    case 'notIn': {
      if (values.length === 0) return () => true;
      const member = memberOf(values);
      return (v) => !member(v);
    }
    case 'startsWith':
      return textual(values, (a, b) => a.startsWith(b));
    case 'endsWith':
      return textual(values, (a, b) => a.endsWith(b));
    case 'contains':
      return textual(values, (a, b) => a.includes(b));
    case 'matches': {
      const patterns = values.filter((v): v is string => typeof v === 'string').map((p) => new RegExp(p));
      return (v) => typeof v === 'string' && patterns.some((r) => r.test(v));
    }
    case 'lt':
      return numeric(values, (a, b) => a < b);
    case 'lte':
      return numeric(values, (a, b) => a <= b);
    case 'gt':
      return numeric(values, (a, b) => a > b);
    case 'gte':
      return numeric(values, (a, b) => a >= b);
    case 'before':
      return temporal(values, (a, b) => a < b);
    case 'after':
      return temporal(values, (a, b) => a > b);
    case 'semverEq':
      return semver(values, (o) => o === 0);
    case 'semverLt':
      return semver(values, (o) => o < 0);
    case 'semverLte':
      return semver(values, (o) => o <= 0);
    case 'semverGt':
      return semver(values, (o) => o > 0);
    case 'semverGte':
      return semver(values, (o) => o >= 0);
    case 'exists':
    case 'inSegment':
    case 'notInSegment':
      return never;
  }
}

export function compileCondition(c: Condition): CompiledCondition {
  const negate = c.negate === true;
  if (c.op === 'inSegment' || c.op === 'notInSegment') {
    const kind = c.op === 'inSegment' ? IN_SEGMENT : NOT_IN_SEGMENT;
    return new CompiledCondition(kind, null, never, (c.values ?? []).map(String), negate);
  }
  const path = attributePath(c.attribute ?? '');
  const kind = c.op === 'exists' ? EXISTS : ATTRIBUTE;
  return new CompiledCondition(kind, path, testFor(c), [], negate);
}

function inAny(segments: readonly string[], context: Context, resolver: SegmentResolver): boolean {
  for (const key of segments) if (resolver.inSegment(key, context)) return true;
  return false;
}

/** Whether a condition holds for a context (spec/README.md, "Conditions"). */
export function conditionHolds(c: CompiledCondition, context: Context, resolver: SegmentResolver): boolean {
  switch (c.kind) {
    case IN_SEGMENT:
      return inAny(c.segments, context, resolver) !== c.negate;
    case NOT_IN_SEGMENT:
      return !inAny(c.segments, context, resolver) !== c.negate;
    case EXISTS:
      return (readAttribute(context, c.path!) !== undefined) !== c.negate;
    default: {
      const value = readAttribute(context, c.path!);
      if (value === undefined) return false;
      let holds = false;
      if (Array.isArray(value)) {
        for (const element of value) {
          if (element !== null && element !== undefined && c.test(element)) {
            holds = true;
            break;
          }
        }
      } else {
        holds = c.test(value);
      }
      return holds !== c.negate;
    }
  }
}

/** Whether every condition holds. */
export function allHold(
  conditions: readonly CompiledCondition[],
  context: Context,
  resolver: SegmentResolver,
): boolean {
  for (let i = 0; i < conditions.length; i++) {
    if (!conditionHolds(conditions[i]!, context, resolver)) return false;
  }
  return true;
}
