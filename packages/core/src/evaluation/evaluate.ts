/**
 * The evaluator: pure and synchronous. Given a compiled flag, a context, the instant and a scope that
 * resolves other flags and segments, it returns a prepared result (spec/README.md, "Evaluation").
 * It reads no clock, does no I/O, and never throws on any context.
 */

import { LIMITS } from '../document/schema.js';
import type { CompiledFlag, CompiledSegment, Targeting } from './compile.js';
import { allHold, type SegmentResolver } from './conditions.js';
import { type EvaluationResult, errorResult, PREREQUISITE_CHAIN } from './result.js';
import { rolloutFor } from './serve.js';

/** Other flags (for prerequisites) and segments of the same environment. */
export interface EvaluationScope extends SegmentResolver {
  /** The compiled flag with that key, or undefined when there is none (or it cannot be compiled). */
  flag(key: string): CompiledFlag | undefined;
}

export type Context = Record<string, unknown>;

function prerequisiteError(key: string, cause: EvaluationResult): EvaluationResult {
  return errorResult(
    undefined,
    'GENERAL',
    `prerequisite "${key}" could not be evaluated: ${cause.errorMessage}`,
    0,
  );
}

/** Whether a context is in a segment (spec/README.md, "Segments"). */
export function segmentContains(
  segment: CompiledSegment,
  context: Context,
  resolver: SegmentResolver,
): boolean {
  const key = context.targetingKey;
  if (typeof key === 'string') {
    if (segment.excluded.has(key)) return false;
    if (segment.included.has(key)) return true;
  }
  for (const rule of segment.rules) if (allHold(rule, context, resolver)) return true;
  return false;
}

/** The targeting in force at `now`: the last scheduled phase reached, unless paused before it. */
function targetingAt(flag: CompiledFlag, now: number): Targeting {
  const phases = flag.phases!;
  const until = Math.min(now, flag.phaseLimit);
  for (let i = phases.length - 1; i >= 0; i--) {
    const phase = phases[i]!;
    if (phase.at <= until) return phase.targeting;
  }
  return flag;
}

/**
 * Evaluates `flag` for `context` at `now` (epoch ms). Errors come back as results with an `errorCode`
 * and no caller default (the caller substitutes its own); `depth` counts prerequisite hops.
 */
export function evaluateFlag(
  flag: CompiledFlag,
  context: Context,
  now: number,
  scope: EvaluationScope,
  depth = 0,
): EvaluationResult {
  let t: Targeting = flag.phases === null ? flag : targetingAt(flag, now);
  if (t.regions !== null) {
    const region = context.region;
    if (typeof region === 'string') t = t.regions.get(region) ?? t;
  }
  // perf: an off or static flag answers without reading the context.
  if (t.fixed !== null) return t.fixed;

  const prerequisites = t.prerequisites;
  if (prerequisites !== null) {
    if (depth >= LIMITS.prerequisiteDepth) return PREREQUISITE_CHAIN;
    for (const p of prerequisites) {
      const other = scope.flag(p.flag);
      if (other === undefined) return t.prerequisiteFailed!;
      const r = evaluateFlag(other, context, now, scope, depth + 1);
      if (r.errorCode !== undefined) return r === PREREQUISITE_CHAIN ? r : prerequisiteError(p.flag, r);
      if (r.reason === 'DISABLED' || r.variant !== p.variation) return t.prerequisiteFailed!;
    }
  }

  if (t.targets !== null) {
    const key = context.targetingKey;
    if (typeof key === 'string') {
      const hit = t.targets.get(key);
      if (hit !== undefined) return hit;
    }
  }

  const rules = t.rules;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const window = rule.window;
    if (window !== null && (now < window.from || now >= window.until)) continue;
    if (allHold(rule.conditions, context, scope)) return rule.result ?? rolloutFor(rule.rollout!, context);
  }
  return t.fallthrough ?? rolloutFor(t.fallthroughRollout!, context);
}
