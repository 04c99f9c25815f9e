/**
 * `FlagStore`: the store as the server, relays and tools use it — one layer above any adapter, written
 * once: encoding, validation, idempotency, indexes, queries, the ledger and the change feed.
 */
import type { StoreAdapter } from './contract.js';
import { Delivery } from './delivery.js';
import { Exposures } from './exposures.js';
import { Ledger } from './feed.js';
import { Flags } from './flags.js';
import { Integrity, VerifiedAdapter } from './integrity.js';
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

  /** The adapter as the store uses it: measured (`observe`), and checked by `integrity`. */
  readonly adapter: StoreAdapter;
  /** Damage found in what the store read (records failing their checksums, ledgers not verifying). */
  readonly integrity = new Integrity();

  constructor(adapter: StoreAdapter, options: FlagStoreOptions = {}) {
    this.adapter = new VerifiedAdapter(
      options.observe === undefined ? adapter : new ObservedAdapter(adapter, options.observe),
      this.integrity,
    );
    const clock = options.clock ?? Date.now;
    const writer = new Writer(this.adapter, {
      clock,
      idempotencyTtlMs: options.idempotencyTtlMs ?? 24 * 3600_000,
      ...(options.encryptionKeys === undefined ? {} : { keys: options.encryptionKeys }),
    });
    this.flags = new Flags(this.adapter, writer, options.historyLimit ?? 100, options.encryptionKeys);
    this.queries = new Queries(this.adapter, clock, options.encryptionKeys);
    this.ledger = new Ledger(
      this.adapter,
      { clock, pollIntervalMs: options.feedPollIntervalMs ?? 1000 },
      this.integrity,
    );
    this.segments = new Segments(this.adapter, writer, async () =>
      (await this.flags.environments()).map((e) => e.name),
    );
    this.tokens = new Tokens(this.adapter, writer);
    this.exposures = new Exposures(this.adapter);
    this.delivery = new Delivery(this.adapter, options.encryptionKeys, this.integrity);
  }

  /**
   * Checks everything the store holds for damage: its pages (where the adapter can, in another process:
   * if they fail, nothing more is read here), every record's checksum, and every namespace's ledger.
   * Damage goes to `integrity` (so /readyz and writes know of it); resolves with its report. It reads the
   * whole store: run it in the background (the server does, once it listens).
   */
  async check(): Promise<ReturnType<Integrity['report']>> {
    const pages = await this.adapter.checkPages?.();
    if (pages !== undefined) {
      this.integrity.found({ kind: 'store', namespace: '*', detail: pages });
      return this.integrity.report();
    }
    const PAGE = 1000;
    let afterNamespace: string | undefined;
    for (;;) {
      const namespaces = await this.adapter.namespaces('', {
        ...(afterNamespace === undefined ? {} : { after: afterNamespace }),
        limit: PAGE,
      });
      for (const namespace of namespaces) {
        // The integrity layer reports each damaged record as it is read.
        let after: string | undefined;
        for (;;) {
          const records = await this.adapter.scan(namespace, '', {
            ...(after === undefined ? {} : { after }),
            limit: PAGE,
          });
          if (records.length < PAGE) break;
          after = records[records.length - 1]!.path;
        }
        await this.ledger.verify(namespace, { pagesChecked: true });
      }
      if (namespaces.length < PAGE) return this.integrity.report();
      afterNamespace = namespaces[namespaces.length - 1];
    }
  }

  close(): Promise<void> {
    return this.adapter.close();
  }
}
