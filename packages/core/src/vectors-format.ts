/**
 * The shape of the spec's evaluation vectors (spec/vectors/evaluation/*.json), for the runners that check
 * an implementation against them: the engine's, and the SDK's and OFREP's remote one.
 */
import type { FlagDocument, FlagType, SegmentDocument } from './document/schema.js';

export interface EvaluationCase {
  name: string;
  flag: string;
  type: FlagType;
  default: unknown;
  context: Record<string, unknown>;
  /** The instant of the evaluation, when it differs from the file's. */
  now?: string;
  /** Fields of the expected result; those not named are not checked (but a rule id and error code must be absent). */
  expect: Record<string, unknown>;
}

export interface EvaluationFile {
  description?: string;
  environment: string;
  now?: string;
  flags: FlagDocument[];
  segments?: SegmentDocument[];
  cases: EvaluationCase[];
}
