/**
 * Compiled serves: a fixed variation, or a rollout whose bucket ranges, hash prefix and results are
 * all prepared at compile time, so that serving hashes only the bucket-by value.
 */
import { BUCKETS, bucketOf, bucketPrefix } from '../bucketing/bucket.js';
import type { HashPrefix } from '../bucketing/murmur3.js';
import { type AttributePath, attributePath, readAttribute } from '../conditions/attribute.js';
import type { Serve } from '../document/schema.js';
import { weightInBuckets } from '../validation/semantic.js';
import { type EvaluationResult, TARGETING_KEY_MISSING } from './result.js';

export class CompiledServe {
  constructor(
    /** One result per variation of the rollout, or the single fixed result. */
    readonly results: readonly EvaluationResult[],
    /** Exclusive upper bucket of each rollout range; null for a fixed variation. */
    readonly upper: Int32Array | null,
    readonly prefix: HashPrefix | null,
    /** null when bucketing by `targetingKey`, the common case read without a path walk. */
    readonly bucketBy: AttributePath | null,
  ) {}
}

/** Builds the result a serve gives for a variation (reason and rule id are the caller's). */
export type ResultFor = (variation: string) => EvaluationResult;

export function compileServe(serve: Serve, salt: string, resultFor: ResultFor): CompiledServe {
  if (typeof serve === 'string') return new CompiledServe([resultFor(serve)], null, null, null);
  const names = Object.keys(serve.rollout);
  const upper = new Int32Array(names.length);
  let total = 0;
  names.forEach((name, i) => {
    total += weightInBuckets(serve.rollout[name]!) ?? 0;
    upper[i] = total;
  });
  upper[names.length - 1] = BUCKETS; // a rounding remainder never leaves a bucket unserved
  const bucketBy =
    serve.bucketBy === undefined || serve.bucketBy === 'targetingKey' ? null : attributePath(serve.bucketBy);
  return new CompiledServe(names.map(resultFor), upper, bucketPrefix(serve.salt ?? salt), bucketBy);
}

/** The result a serve gives a context; `TARGETING_KEY_MISSING` when a rollout cannot bucket it. */
export function serveFor(serve: CompiledServe, context: Record<string, unknown>): EvaluationResult {
  const upper = serve.upper;
  if (upper === null) return serve.results[0]!;
  const raw = serve.bucketBy === null ? context.targetingKey : readAttribute(context, serve.bucketBy);
  let value: string;
  if (typeof raw === 'string') value = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) value = String(raw);
  else return TARGETING_KEY_MISSING;
  const b = bucketOf(serve.prefix!, value);
  for (let i = 0; i < upper.length; i++) if (b < upper[i]!) return serve.results[i]!;
  return serve.results[serve.results.length - 1]!;
}
