/**
 * `FlagStore`: the store as the server, relays and tools use it — one layer above any adapter, written
 * once: encoding, validation, idempotency, indexes, queries, the ledger and the change feed.
 */
import type { StoreAdapter } from './contract.js';
import { Ledger } from './feed.js';
import { Flags } from './flags.js';
import { Queries } from './queries.js';
import { Segments } from './segments.js';
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
}

export class FlagStore {
  readonly flags: Flags;
  readonly queries: Queries;
  readonly ledger: Ledger;
  readonly segments: Segments;
  readonly tokens: Tokens;

  constructor(
    readonly adapter: StoreAdapter,
    options: FlagStoreOptions = {},
  ) {
    const clock = options.clock ?? Date.now;
    const writer = new Writer(adapter, {
      clock,
      idempotencyTtlMs: options.idempotencyTtlMs ?? 24 * 3600_000,
    });
    this.flags = new Flags(adapter, writer, options.historyLimit ?? 100);
    this.queries = new Queries(adapter, clock);
    this.ledger = new Ledger(adapter, { clock, pollIntervalMs: options.feedPollIntervalMs ?? 1000 });
    this.segments = new Segments(adapter, writer, async () =>
      (await this.flags.environments()).map((e) => e.name),
    );
    this.tokens = new Tokens(adapter, writer);
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}
