/**
 * Compiled conditions. Each operator's values are prepared once (sets, regexes, semvers, instants) and
 * held flat in one object, so a test is a switch on a small integer with no closure to call and no
 * value of its own to parse.
 */
import { parseInstant } from '../conditions/instant.js';
import { compilePattern, type Pattern, patternFinds } from '../conditions/pattern.js';
import { compareSemver, parseSemver, type SemVer } from '../conditions/semver.js';
import type { Condition } from '../document/schema.js';

type Context = Record<string, unknown>;

/** Resolves segments by key for `inSegment` / `notInSegment`. */
export interface SegmentResolver {
  inSegment(segmentKey: string, context: Context): boolean;
}

// perf: small integer op codes switch faster than operator names, and keep conditions monomorphic.
const MEMBER = 0;
const STARTS_WITH = 2;
const ENDS_WITH = 3;
const CONTAINS = 4;
const MATCHES = 5;
const LT = 6;
const LTE = 7;
const GT = 8;
const GTE = 9;
const BEFORE = 10;
const AFTER = 11;
const SEMVER_EQ = 12;
const SEMVER_LT = 13;
const SEMVER_LTE = 14;
const SEMVER_GT = 15;
const SEMVER_GTE = 16;
const EXISTS = 17;
const IN_SEGMENT = 18;
const NOT_IN_SEGMENT = 19;

const OP_CODES: Record<Condition['op'], number> = {
  eq: MEMBER,
  in: MEMBER,
  neq: MEMBER,
  notIn: MEMBER,
  startsWith: STARTS_WITH,
  endsWith: ENDS_WITH,
  contains: CONTAINS,
  matches: MATCHES,
  lt: LT,
  lte: LTE,
  gt: GT,
  gte: GTE,
  before: BEFORE,
  after: AFTER,
  semverEq: SEMVER_EQ,
  semverLt: SEMVER_LT,
  semverLte: SEMVER_LTE,
  semverGt: SEMVER_GT,
  semverGte: SEMVER_GTE,
  exists: EXISTS,
  inSegment: IN_SEGMENT,
  notInSegment: NOT_IN_SEGMENT,
};

// perf: up to this many values a linear scan beats hashing into a Set.
const SMALL = 8;

export class CompiledCondition {
  constructor(
    readonly op: number,
    /** The attribute, as written (read first as a literal key). */
    readonly attribute: string,
    /** The attribute's dotted parts, or null for a plain name. */
    readonly parts: readonly string[] | null,
    readonly negate: boolean,
    /**
     * The prepared values: the literal values (membership, text), numbers (numeric and time
     * operators), Patterns (RE2, linear-time), SemVers, or segment keys.
     */
    readonly values: readonly unknown[],
    /** For large membership lists: the values as a Set (SameValueZero keeps types apart). */
    readonly set: ReadonlySet<unknown> | null,
    // perf: a one-value membership test (`eq`) compares with this field, without the values array.
    readonly only: unknown,
    readonly single: boolean,
  ) {}
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

/** A number, or a string holding a decimal number. */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && DECIMAL.test(value)) return Number(value);
  return undefined;
}

function prepare(op: number, values: readonly unknown[]): readonly unknown[] {
  if (op >= LT && op <= GTE) return values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (op === BEFORE || op === AFTER) return values.map(parseInstant).filter((v) => v !== undefined);
  if (op >= SEMVER_EQ && op <= SEMVER_GTE) {
    return values
      .map((v) => (typeof v === 'string' ? parseSemver(v) : undefined))
      .filter((v) => v !== undefined);
  }
  if (op === MATCHES) {
    // A pattern the validator would refuse never matches (the compiler runs on validated documents).
    const patterns: Pattern[] = [];
    for (const v of values) {
      const compiled = typeof v === 'string' ? compilePattern(v).pattern : undefined;
      if (compiled !== undefined) patterns.push(compiled);
    }
    return patterns;
  }
  if (op === IN_SEGMENT || op === NOT_IN_SEGMENT) return values.map(String);
  return values;
}

export function compileCondition(c: Condition): CompiledCondition {
  const op = OP_CODES[c.op];
  const attribute = c.attribute ?? '';
  const values = prepare(op, c.values ?? []);
  const set = op === MEMBER && values.length > SMALL ? new Set(values) : null;
  const parts = attribute.includes('.') ? attribute.split('.') : null;
  const single = op === MEMBER && values.length === 1;
  // `neq` / `notIn` are `eq` / `in` negated: on an array, they hold when no element is listed.
  const negate = (c.negate === true) !== (c.op === 'neq' || c.op === 'notIn');
  return new CompiledCondition(op, attribute, parts, negate, values, set, values[0], single);
}

/** The attribute's value; undefined when absent or null (spec/README.md, "Conditions"). */
export function readAttribute(context: Context, attribute: string, parts: readonly string[] | null): unknown {
  let value = context[attribute];
  if (value === undefined && parts !== null) {
    value = context;
    for (const part of parts) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Context)[part];
    }
  }
  return value === null ? undefined : value;
}

function member(c: CompiledCondition, v: unknown): boolean {
  if (c.single) return v === c.only;
  return c.set !== null ? c.set.has(v) : c.values.includes(v);
}

function anyString(values: readonly unknown[], v: string, op: number): boolean {
  for (const s of values as readonly string[]) {
    if (typeof s !== 'string') continue;
    if (op === STARTS_WITH ? v.startsWith(s) : op === ENDS_WITH ? v.endsWith(s) : v.includes(s)) return true;
  }
  return false;
}

function anyNumber(values: readonly unknown[], a: number, op: number): boolean {
  for (const b of values as readonly number[]) {
    if (
      op === LT || op === BEFORE ? a < b : op === LTE ? a <= b : op === GT || op === AFTER ? a > b : a >= b
    ) {
      return true;
    }
  }
  return false;
}

function anySemver(values: readonly unknown[], v: unknown, op: number): boolean {
  if (typeof v !== 'string') return false;
  const a = parseSemver(v);
  if (a === undefined) return false;
  for (const b of values as readonly SemVer[]) {
    const order = compareSemver(a, b);
    if (
      op === SEMVER_EQ
        ? order === 0
        : op === SEMVER_LT
          ? order < 0
          : op === SEMVER_LTE
            ? order <= 0
            : op === SEMVER_GT
              ? order > 0
              : order >= 0
    ) {
      return true;
    }
  }
  return false;
}

/** Whether one attribute value (not an array) satisfies the operator. */
function test(c: CompiledCondition, v: unknown): boolean {
  const op = c.op;
  switch (op) {
    case MEMBER:
      return member(c, v);
    case STARTS_WITH:
    case ENDS_WITH:
    case CONTAINS:
      return typeof v === 'string' && anyString(c.values, v, op);
    case MATCHES:
      if (typeof v !== 'string') return false;
      for (const r of c.values as readonly Pattern[]) if (patternFinds(r, v)) return true;
      return false;
    case LT:
    case LTE:
    case GT:
    case GTE: {
      const a = asNumber(v);
      return a !== undefined && anyNumber(c.values, a, op);
    }
    case BEFORE:
    case AFTER: {
      const a = parseInstant(v);
      return a !== undefined && anyNumber(c.values, a, op);
    }
    default:
      return anySemver(c.values, v, op);
  }
}

function inAny(segments: readonly unknown[], context: Context, resolver: SegmentResolver): boolean {
  for (const key of segments as readonly string[]) if (resolver.inSegment(key, context)) return true;
  return false;
}

/** Whether a condition holds for a context (spec/README.md, "Conditions"). */
export function conditionHolds(c: CompiledCondition, context: Context, resolver: SegmentResolver): boolean {
  const op = c.op;
  if (op === IN_SEGMENT) return inAny(c.values, context, resolver) !== c.negate;
  if (op === NOT_IN_SEGMENT) return !inAny(c.values, context, resolver) !== c.negate;
  const value = readAttribute(context, c.attribute, c.parts);
  if (op === EXISTS) return (value !== undefined) !== c.negate;
  if (value === undefined) return false;
  let holds = false;
  if (Array.isArray(value)) {
    for (const element of value) {
      if (element !== null && element !== undefined && test(c, element)) {
        holds = true;
        break;
      }
    }
  } else {
    holds = test(c, value);
  }
  return holds !== c.negate;
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
