/** @switchyard/store — the adapter contract, the shared store layer, the ledger, and the adapters. */
export { LmdbAdapter, type LmdbAdapterOptions } from './adapters/lmdb.js';
export { DataFileError } from './adapters/lmdb-files.js';
export { connectRedis, RedisAdapter, type RedisAdapterOptions } from './adapters/redis.js';
export type {
  Commit,
  CommitListener,
  CommitOutcome,
  CountDelta,
  EventDraft,
  LedgerEntry,
  LedgerHead,
  Precondition,
  RecordWrite,
  ScanOptions,
  StoreAdapter,
  StoredCount,
  StoredRecord,
} from './contract.js';
export { type DeliveredRecord, Delivery, touchedBy } from './delivery.js';
export {
  ConflictError,
  CorruptRecordError,
  IdempotencyMismatchError,
  InvalidOperationError,
  NotFoundError,
  StoreError,
  StoreValidationError,
  UnavailableError,
} from './errors.js';
export {
  type ExposureCount,
  Exposures,
  exposureProblem,
  hourOf,
  type RefusedExposure,
} from './exposures.js';
export { type FeedListener, Ledger, type Subscription } from './feed.js';
export { withoutVersion } from './flag-records.js';
export { type EnvironmentRecord, Flags, type FlagView } from './flags.js';
export { type Damage, Integrity, VerifiedAdapter } from './integrity.js';
export { chainHash, digestOf, GENESIS, type VerifyResult, verifyChain } from './ledger.js';
export { ObservedAdapter, type StoreObserver } from './observed.js';
export { enabledAt, type FlagQuery, type Page, Queries } from './queries.js';
export {
  type ChangeEvent,
  decodeRecord,
  type EventBody,
  encodeRecord,
  type FlagMeta,
  paths,
  RECORD_SCHEMA_VERSION,
  recordDamage,
  type StateRecord,
  SYSTEM_NAMESPACE,
} from './records.js';
export { Segments, type SegmentView } from './segments.js';
export { type Keyring, keyring, parseKey, REDACTED, SealedValueError } from './sensitive.js';
export { FlagStore, type FlagStoreOptions } from './store.js';
export { type TokenRecord, Tokens } from './tokens.js';
export { type ChangeContext, MAX_REASON_CHARS } from './writer.js';
