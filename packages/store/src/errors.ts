import { formatIssues, type Validated, type ValidationIssue } from '@switchyard/core';

/**
 * The store's typed errors. The control plane maps each to one HTTP status; an adapter never turns
 * "the store is down" into "not found".
 */
export class StoreError extends Error {
  override name = 'StoreError';
}

/** The thing asked for does not exist. */
export class NotFoundError extends StoreError {
  override name = 'NotFoundError';
}

/** An expected version did not match (optimistic concurrency), or the thing already exists. */
export class ConflictError extends StoreError {
  override name = 'ConflictError';
  constructor(
    message: string,
    readonly expected?: number,
    readonly actual?: number,
  ) {
    super(message);
  }
}

/** The same idempotency key came with a different request. */
export class IdempotencyMismatchError extends StoreError {
  override name = 'IdempotencyMismatchError';
}

/** A document or change is invalid; `issues` say what and where. */
export class StoreValidationError extends StoreError {
  override name = 'StoreValidationError';
  constructor(
    message: string,
    readonly issues: readonly ValidationIssue[],
  ) {
    super(message);
  }
}

/** The validated value, or a `StoreValidationError` carrying the issues. */
export function validOrThrow<T>(result: Validated<T>): T {
  if (!result.ok) throw new StoreValidationError(formatIssues(result.issues), result.issues);
  return result.value;
}

/** The request breaks a rule of the store (for example, deleting a flag that is not archived). */
export class InvalidOperationError extends StoreError {
  override name = 'InvalidOperationError';
}

/** The store cannot be reached or did not answer; nothing is known about the outcome of a write. */
export class UnavailableError extends StoreError {
  override name = 'UnavailableError';
}

/** A stored value could not be read: corrupt, truncated, or of a schema version this code does not know. */
export class CorruptRecordError extends StoreError {
  override name = 'CorruptRecordError';
  constructor(
    readonly namespace: string,
    readonly path: string,
    detail: string,
  ) {
    super(`stored record ${namespace}:${path} cannot be read: ${detail}`);
  }
}
