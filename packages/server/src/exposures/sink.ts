/**
 * Forwarding sinks: each receives every accepted batch of exposure events, after validation and before
 * the counts reach the store. A sink never slows ingestion down: `accept` only queues (bounded) and
 * returns; sending or writing happens in the background, and what a sink gives up on is dropped and
 * reported through `onDrop` (the server counts it in `switchyard_exposure_sink_dropped_total`).
 */
import type { ExposureBatch } from './events.js';

export type DropReason = 'queue-full' | 'rejected' | 'retries-exhausted' | 'write-failed' | 'closed';

/** Told of events a sink gave up on: why, and how many. */
export type DropListener = (reason: DropReason, events: number) => void;

export interface ExposureSink {
  /** A short name for metrics and logs, e.g. `webhook`. */
  readonly name: string;
  /** Queues a batch; returns at once and never throws. */
  accept(batch: ExposureBatch): void;
  /** Sends or writes what is queued (within the sink's own deadline), then stops accepting. */
  close(): Promise<void>;
}
