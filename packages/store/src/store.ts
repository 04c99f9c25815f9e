/**
 * `FlagStore`: the store as the server, relays and tools use it — one layer above any adapter, written
 * once: encoding, validation, idempotency, indexes, queries, the ledger and the change feed.
 */
import type { StoreAdapter } from './contract.js';
import { Delivery } from './delivery.js';
import { Exposures } from './exposures.js';
import { Ledger } from './feed.js';
import { Flags } from './flags.js';
import { ObservedAdapter, type StoreObserver } from './observed.js';
import { Queries } from './queries.js';
import { Segments } from './segments.js';
import type { Keyring } from './sensitive.js';
import { Tokens } from './tokens.js';
import { Writer } from './writer.js';

export interface FlagStoreOptions {
  /** Epoch milliseconds; defaults to `Date.now`. */
  clock?: () => number;
  /** Earlier states kept per flag and environment (older ones are pruned as new ones are written). */
  historyLimit?: number;
  /** How long an idempotency key is remembered. */
  idempotencyTtlMs?: number;
  /** How often the change feed polls, to cover lost notifications. */
  feedPollIntervalMs?: number;
  /** Told the duration and outcome of every adapter operation (for metrics). */
  observe?: StoreObserver;
  /** Keys that seal sensitive variation values (see `keyring`); without them, sensitive flags are refused. */
  encryptionKeys?: Keyring;
}

export class FlagStore {
  readonly flags: Flags;
  readonly queries: Queries;
  readonly ledger: Ledger;
  readonly segments: Segments;
  readonly tokens: Tokens;
  /** Exposure counts: analytics, kept outside the ledger. */
  readonly exposures: Exposures;
  /** What delivery (snapshots, patches) reads. */
  readonly delivery: Delivery;

  readonly adapter: StoreAdapter;

  constructor(adapter: StoreAdapter, options: FlagStoreOptions = {}) {
    this.adapter = options.observe === undefined ? adapter : new ObservedAdapter(adapter, options.observe);
    const clock = options.clock ?? Date.now;
    const writer = new Writer(this.adapter, {
      clock,
      idempotencyTtlMs: options.idempotencyTtlMs ?? 24 * 3600_000,
      ...(options.encryptionKeys === undefined ? {} : { keys: options.encryptionKeys }),
    });
    this.flags = new Flags(this.adapter, writer, options.historyLimit ?? 100, options.encryptionKeys);
    this.queries = new Queries(this.adapter, clock, options.encryptionKeys);
    this.ledger = new Ledger(this.adapter, { clock, pollIntervalMs: options.feedPollIntervalMs ?? 1000 });
    this.segments = new Segments(this.adapter, writer, async () =>
      (await this.flags.environments()).map((e) => e.name),
    );
    this.tokens = new Tokens(this.adapter, writer);
    this.exposures = new Exposures(this.adapter);
    this.delivery = new Delivery(this.adapter, options.encryptionKeys);
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}
