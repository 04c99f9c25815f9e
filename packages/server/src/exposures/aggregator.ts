/**
 * Exposure counts aggregated in memory per environment × flag × variant × hour, and written to the store
 * (`store.exposures`, outside the ledger) every `flushIntervalMs`: a request adds to a map and returns;
 * the store sees one counter update per distinct key per interval, however many events arrive.
 *
 * Memory is bounded by `maxPending` distinct keys. `add` refuses a batch that would go past it (the
 * route answers 503, so the SDK keeps its events and sends them again). A flush that fails keeps its
 * counts for the next one, as far as they fit; what does not fit is dropped and counted. A flush whose
 * store write failed with an unknown outcome may, when retried, count those exposures twice.
 *
 * Each count is judged on its own: one that would take its counter past 2^53 - 1, or that the store
 * refuses, is left out and counted (`exposuresRefused`); the others are written.
 */
import { type ExposureCount, type FlagStore, StoreValidationError } from '@switchyard/store';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../metrics.js';

export interface AggregatorOptions {
  store: FlagStore;
  metrics: Pick<
    Metrics,
    'exposurePending' | 'exposureFlushFailures' | 'exposureCountsDropped' | 'exposuresRefused'
  >;
  log: FastifyBaseLogger;
  /** How often counts are written to the store, in ms. */
  flushIntervalMs?: number;
  /** Most distinct environment × flag × variant × hour keys held in memory. */
  maxPending?: number;
}

interface Pending {
  environment: string;
  entry: { flag: string; variant: string; hour: number; count: number };
}

// Namespaces written at once during a flush.
const PARALLEL_WRITES = 16;

// A space appears in no environment, flag key or variant name.
const keyOf = (environment: string, e: Pending['entry']) => `${environment} ${e.flag} ${e.variant} ${e.hour}`;

export class ExposureAggregator {
  private pending = new Map<string, Pending>();
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxPending: number;

  constructor(private readonly options: AggregatorOptions) {
    this.maxPending = options.maxPending ?? 100_000;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Adds the counts of one accepted request; false (and nothing added) when they would not fit. */
  add(environment: string, entries: readonly Pending['entry'][]): boolean {
    const fresh = new Set<string>();
    for (const entry of entries) {
      const key = keyOf(environment, entry);
      if (!this.pending.has(key)) fresh.add(key);
    }
    if (this.pending.size + fresh.size > this.maxPending) return false;
    for (const entry of entries) this.merge(environment, entry);
    this.options.metrics.exposurePending.set(this.pending.size);
    return true;
  }

  private merge(environment: string, entry: Pending['entry']): boolean {
    const key = keyOf(environment, entry);
    const current = this.pending.get(key);
    if (current !== undefined) {
      // Left out, not added: past 2^53 - 1 the sum is no longer exact, and the store would refuse it.
      if (current.entry.count + entry.count > Number.MAX_SAFE_INTEGER) {
        this.options.metrics.exposuresRefused.inc({ reason: 'count-overflow' });
      } else current.entry.count += entry.count;
    } else if (this.pending.size < this.maxPending)
      this.pending.set(key, { environment, entry: { ...entry } });
    else return false;
    return true;
  }

  /** Writes what is pending to the store; resolves when done (a flush already running is joined). */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const taken = this.pending;
    this.pending = new Map();
    // One store call per environment × namespace, each atomic.
    const groups = new Map<string, { environment: string; entries: ExposureCount[] }>();
    for (const { environment, entry } of taken.values()) {
      const namespace = entry.flag.slice(0, entry.flag.lastIndexOf('/'));
      const group = `${environment} ${namespace}`;
      const found = groups.get(group) ?? { environment, entries: [] };
      groups.set(group, found);
      found.entries.push(entry);
    }
    const all = [...groups.values()];
    for (let i = 0; i < all.length; i += PARALLEL_WRITES) {
      await Promise.all(all.slice(i, i + PARALLEL_WRITES).map((group) => this.writeGroup(group)));
    }
    this.options.metrics.exposurePending.set(this.pending.size);
  }

  private async writeGroup(group: { environment: string; entries: ExposureCount[] }): Promise<void> {
    const { metrics, log } = this.options;
    try {
      const refused = await this.options.store.exposures.record(group.environment, group.entries);
      for (const { entry, issue } of refused) {
        // The route checks the same rules (exposureProblem), so this is a bug: said, counted, not retried.
        metrics.exposuresRefused.inc({ reason: issue.path });
        log.error({ entry, issue }, 'an exposure count was refused by the store; left out');
      }
    } catch (error) {
      metrics.exposureFlushFailures.inc();
      if (error instanceof StoreValidationError) {
        // The environment itself is invalid: never valid, so never retried (the route checks it).
        log.error({ err: error }, 'exposure counts refused by the store; dropped');
        metrics.exposureCountsDropped.inc(group.entries.reduce((sum, e) => sum + e.count, 0));
        return;
      }
      let dropped = 0;
      for (const entry of group.entries) {
        if (!this.merge(group.environment, entry)) dropped += entry.count;
      }
      if (dropped > 0) metrics.exposureCountsDropped.inc(dropped);
      log.warn(
        { err: error, environment: group.environment, counters: group.entries.length, dropped },
        'writing exposure counts failed; kept for the next flush',
      );
    }
  }

  /** Stops the timer and writes what is pending once more. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush(); // joins a flush under way, whose requests' counts the next one takes
    await this.flush();
    if (this.pending.size > 0) {
      this.options.log.error(
        { counters: this.pending.size },
        'exposure counts not written to the store at shutdown',
      );
    }
  }
}
