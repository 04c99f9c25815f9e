/**
 * @switchyard/sdk — the Node SDK: follows a Switchyard server or relay, holds one environment's flags in
 * memory and evaluates them synchronously. The OpenFeature provider is at `@switchyard/sdk/openfeature`.
 */

export {
  type ChangeEvent,
  type ClientEvents,
  type ClientOptions,
  type ClientStatus,
  createClient,
  type DetailErrorCode,
  type EvaluationDetail,
  type ReadyResult,
  type StatusEvent,
  SwitchyardClient,
} from './client/client.js';
export type { Exposure, ExposureOptions, ExposureStats } from './exposures/reporter.js';
export { backoffDelay } from './feed/backoff.js';
export { type BodyLimits, readBody } from './feed/body.js';
export {
  type ConnectionState,
  type HeartbeatEvent,
  type PatchEvent,
  type SnapshotEvent,
  type StateEvent,
  UpstreamError,
  type UpstreamFeedEvents,
} from './feed/events.js';
export { encodePositions, type Positions, positionsOfHeader } from './feed/positions.js';
export { namespaceOf, parseRecordLine, type RecordChange, type RecordKind } from './feed/records.js';
export { isSensitiveLine, LineSealer, SealedLineError, type SealingUse } from './feed/sealing.js';
export { UpstreamFeed, type UpstreamFeedOptions } from './feed/upstream.js';
