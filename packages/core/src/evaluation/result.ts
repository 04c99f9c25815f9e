/**
 * Evaluation results. Successful results are built once, at compile time, frozen and shared: an
 * evaluation returns one of them without allocating. Every result has the same shape, so the call
 * sites that read them stay monomorphic.
 */

/** OpenFeature's reasons, plus `PREREQUISITE_FAILED`. */
export type Reason =
  | 'STATIC'
  | 'DEFAULT'
  | 'TARGETING_MATCH'
  | 'SPLIT'
  | 'DISABLED'
  | 'PREREQUISITE_FAILED'
  | 'ERROR';

/** OpenFeature's error codes that an evaluation can yield. */
export type ErrorCode =
  | 'FLAG_NOT_FOUND'
  | 'TYPE_MISMATCH'
  | 'TARGETING_KEY_MISSING'
  | 'PARSE_ERROR'
  | 'GENERAL';

export interface EvaluationResult<T = unknown> {
  readonly value: T;
  /** The served variation's name; undefined on error. */
  readonly variant: string | undefined;
  readonly reason: Reason;
  /** The id of the rule that served, if a rule did. */
  readonly ruleId: string | undefined;
  /** The version of the flag's state that was evaluated; 0 when the flag was not found. */
  readonly version: number;
  readonly errorCode: ErrorCode | undefined;
  readonly errorMessage: string | undefined;
}

export function servedResult(
  value: unknown,
  variant: string,
  reason: Reason,
  ruleId: string | undefined,
  version: number,
): EvaluationResult {
  return Object.freeze({
    value,
    variant,
    reason,
    ruleId,
    version,
    errorCode: undefined,
    errorMessage: undefined,
  });
}

export function errorResult<T>(
  value: T,
  errorCode: ErrorCode,
  errorMessage: string,
  version: number,
): EvaluationResult<T> {
  return Object.freeze({
    value,
    variant: undefined,
    reason: 'ERROR',
    ruleId: undefined,
    version,
    errorCode,
    errorMessage,
  });
}

/**
 * An error found inside a flag's evaluation, before the caller's default is known: the engine turns it
 * into an `errorResult` carrying the default.
 */
export const TARGETING_KEY_MISSING = errorResult(
  undefined,
  'TARGETING_KEY_MISSING',
  'a rollout needs the bucket-by attribute, and the context has no string or number there',
  0,
);
export const PREREQUISITE_CHAIN = errorResult(
  undefined,
  'GENERAL',
  'prerequisites form a cycle or chain deeper than 10 flags',
  0,
);
