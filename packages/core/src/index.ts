/**
 * @switchyard/core — the policy document, its validation, bucketing, the compiler and the pure,
 * synchronous evaluator. No I/O: data comes in, results go out.
 */
export {
  environmentCovered,
  isCanonicalEnvironmentScope,
  isCanonicalNamespaceScope,
  NAMESPACE_SCOPE,
  namespaceCovered,
  type Scopes,
  scopesWithin,
  unscoped,
} from './access/scopes.js';
export { BUCKETS, bucket, bucketOf, bucketPrefix } from './bucketing/bucket.js';
export { type HashPrefix, murmur3 } from './bucketing/murmur3.js';
export { compareSemver, parseSemver, type SemVer } from './conditions/semver.js';
export { pauseState, resumeState, scheduleOf, stateAt } from './document/lifecycle.js';
export * as names from './document/names.js';
export { namespaceOf, splitKey } from './document/names.js';
export { type Parsed, parsePolicyText } from './document/parse.js';
export {
  type Condition,
  EnvironmentState,
  FLAG_TYPES,
  FlagDocument,
  type FlagRecord,
  type FlagType,
  type JsonValue,
  LIMITS,
  OPERATORS,
  type Operator,
  type Prerequisite,
  type RegionOverride,
  type Rollout,
  type RolloutServe,
  type Rule,
  SCHEMA_VERSION,
  type ScheduledStep,
  SegmentDocument,
  type SegmentRecord,
  SegmentState,
  type Serve,
  type StatePatch,
  type Window,
} from './document/schema.js';
export { type EngineOptions, FlagEngine } from './engine/engine.js';
export {
  encodeSnapshot,
  FLAG_LINE,
  flagLine,
  headerLine,
  lineIdentity,
  parseRecordLine,
  type RecordChange,
  type RecordKind,
  readHeader,
  recordOf,
  SEGMENT_LINE,
  SNAPSHOT_MAGIC,
  SnapshotFormatError,
  type SnapshotHeader,
  scanRecordLines,
  segmentLine,
} from './engine/snapshot.js';
export { SnapshotIndex } from './engine/snapshot-index.js';
export { CompiledFlag, CompiledSegment, compileFlag, compileSegment } from './evaluation/compile.js';
export { type Context, type EvaluationScope, evaluateFlag } from './evaluation/evaluate.js';
export type { ErrorCode, EvaluationResult, Reason } from './evaluation/result.js';
export {
  didYouMean,
  formatIssues,
  formatPath,
  IssueList,
  pathSegment,
  pointerSegments,
  type ValidationIssue,
} from './validation/issues.js';
export { type FlagSetLookup, referenceIssues } from './validation/references.js';
export {
  type FlagSet,
  isSegmentDocument,
  type Validated,
  validateFlag,
  validateFlagSet,
  validateSegment,
} from './validation/validate.js';
export type { EvaluationCase, EvaluationFile } from './vectors-format.js';
