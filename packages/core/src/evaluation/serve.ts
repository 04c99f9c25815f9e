/**
 * Compiled rollouts: bucket ranges, the hash state of `salt + ":"` and one result per variation, all
 * prepared at compile time, so that serving a rollout hashes only the bucket-by value.
 */
import { BUCKETS, bucketOf, bucketPrefix } from '../bucketing/bucket.js';
import type { HashPrefix } from '../bucketing/murmur3.js';
import type { RolloutServe } from '../document/schema.js';
import { weightInBuckets } from '../validation/semantic.js';
import { readAttribute } from './conditions.js';
import { type EvaluationResult, TARGETING_KEY_MISSING } from './result.js';

// perf: the rollout is its own hash prefix, one object fewer to reach on every evaluation.
export class Rollout implements HashPrefix {
  constructor(
    /** One result per variation, in the rollout's order. */
    readonly results: readonly EvaluationResult[],
    /** Exclusive upper bucket of each variation's range. */
    readonly upper: readonly number[],
    // perf: a two-way split (the common ramp) is decided from these fields, without the arrays.
    readonly split: number,
    readonly first: EvaluationResult,
    readonly second: EvaluationResult,
    readonly h: number,
    readonly tail: number,
    readonly tailLength: number,
    readonly length: number,
    /** The bucket-by attribute, or null for `targetingKey`, read without a path walk. */
    readonly attribute: string | null,
    readonly parts: readonly string[] | null,
  ) {}
}

export function compileRollout(
  serve: RolloutServe,
  salt: string,
  resultFor: (variation: string) => EvaluationResult,
): Rollout {
  const names = Object.keys(serve.rollout);
  const upper: number[] = [];
  let total = 0;
  for (const name of names) {
    total += weightInBuckets(serve.rollout[name]!) ?? 0;
    upper.push(total);
  }
  upper[upper.length - 1] = BUCKETS; // a rounding remainder never leaves a bucket unserved
  const prefix = bucketPrefix(serve.salt ?? salt);
  const by = serve.bucketBy === undefined || serve.bucketBy === 'targetingKey' ? null : serve.bucketBy;
  const results = names.map(resultFor);
  const twoWay = results.length === 2;
  return new Rollout(
    results,
    upper,
    twoWay ? upper[0]! : -1,
    results[0]!,
    results[twoWay ? 1 : 0]!,
    prefix.h,
    prefix.tail,
    prefix.tailLength,
    prefix.length,
    by,
    by?.includes('.') ? by.split('.') : null,
  );
}

/** The result a rollout gives a context; `TARGETING_KEY_MISSING` when it cannot bucket it. */
export function rolloutFor(rollout: Rollout, context: Record<string, unknown>): EvaluationResult {
  const raw =
    rollout.attribute === null
      ? context.targetingKey
      : readAttribute(context, rollout.attribute, rollout.parts);
  let value: string;
  if (typeof raw === 'string') value = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) value = String(raw);
  else return TARGETING_KEY_MISSING;
  const b = bucketOf(rollout, value);
  if (rollout.split >= 0) return b < rollout.split ? rollout.first : rollout.second;
  const upper = rollout.upper;
  for (let i = 0; i < upper.length; i++) if (b < upper[i]!) return rollout.results[i]!;
  return rollout.results[rollout.results.length - 1]!;
}
