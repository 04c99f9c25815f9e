/**
 * The control plane's Prometheus metrics, in a registry of their own: request latency by route, store
 * operation latency, changes, conflicts, rate-limited requests and authentication failures, and exposure
 * events (accepted, counts not yet flushed, flush failures, what was dropped).
 */
import type { StoreObserver } from '@switchyard/store';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface Metrics {
  registry: Registry;
  requests: Histogram<'route' | 'method' | 'status'>;
  changes: Counter<'method'>;
  conflicts: Counter;
  rateLimited: Counter;
  authFailures: Counter;
  /** Exposure events accepted by `POST /events/v1`, by environment (each event once, whatever its count). */
  exposuresAccepted: Counter<'environment'>;
  /** Counters (environment × flag × variant × hour) aggregated in memory, not yet in the store. */
  exposurePending: Gauge;
  /** Flushes of aggregated exposure counts to the store that failed (the counts are kept for the next). */
  exposureFlushFailures: Counter;
  /** Exposures (their counts) given up because the in-memory aggregate was full after failed flushes. */
  exposureCountsDropped: Counter;
  /**
   * Exposure events left out as invalid (the rest of their batch is counted), by reason: the field at
   * fault (`hour`: dated before 1970; `count`, …), or `count-overflow` when a counter would pass 2^53 - 1.
   */
  exposuresRefused: Counter<'reason'>;
  /** Exposure events a forwarding sink gave up on, by sink and reason. */
  exposureSinkDropped: Counter<'sink' | 'reason'>;
  /** Damage found in the store (records failing their checksums, ledgers not verifying), by kind. */
  storeDamage: Counter<'kind'>;
  /** Give this to the `FlagStore` (its `observe` option) to measure store latency. */
  observeStore: StoreObserver;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const storeLatency = new Histogram({
    name: 'switchyard_store_operation_duration_seconds',
    help: 'Store adapter operation latency, by operation and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    requests: new Histogram({
      name: 'switchyard_http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    changes: new Counter({
      name: 'switchyard_changes_total',
      help: 'Successful changes through the API, by method',
      labelNames: ['method'],
      registers: [registry],
    }),
    conflicts: new Counter({
      name: 'switchyard_conflicts_total',
      help: 'Changes refused because the version moved',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'switchyard_rate_limited_total',
      help: 'Changes refused by a rate limit',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'switchyard_auth_failures_total',
      help: 'Requests refused for a missing, unknown, revoked or expired token',
      registers: [registry],
    }),
    exposuresAccepted: new Counter({
      name: 'switchyard_exposures_accepted_total',
      help: 'Exposure events accepted, by environment',
      labelNames: ['environment'],
      registers: [registry],
    }),
    exposurePending: new Gauge({
      name: 'switchyard_exposure_pending_counters',
      help: 'Exposure counters aggregated in memory and not yet written to the store',
      registers: [registry],
    }),
    exposureFlushFailures: new Counter({
      name: 'switchyard_exposure_flush_failures_total',
      help: 'Failed writes of aggregated exposure counts to the store',
      registers: [registry],
    }),
    exposureCountsDropped: new Counter({
      name: 'switchyard_exposure_counts_dropped_total',
      help: 'Exposures given up because the in-memory aggregate was full after failed flushes',
      registers: [registry],
    }),
    exposuresRefused: new Counter({
      name: 'switchyard_exposures_refused_total',
      help: 'Exposure events left out as invalid (the rest of their batch is counted), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    exposureSinkDropped: new Counter({
      name: 'switchyard_exposure_sink_dropped_total',
      help: 'Exposure events a forwarding sink gave up on, by sink and reason',
      labelNames: ['sink', 'reason'],
      registers: [registry],
    }),
    storeDamage: new Counter({
      name: 'switchyard_store_damage_total',
      help: 'Damage found in the store (records failing their checksums, ledgers not verifying), by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    observeStore: (operation, seconds, ok) =>
      storeLatency.observe({ operation, outcome: ok ? 'ok' : 'error' }, seconds),
  };
}
