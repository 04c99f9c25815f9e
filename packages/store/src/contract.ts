/**
 * The adapter contract: the small surface each storage engine implements. Everything else (encoding,
 * validation, the ledger's content, idempotency, queries, the change feed) is written once, above it,
 * in `FlagStore`.
 *
 * Data lives in namespaces. Within a namespace, records are addressed by a path (`state/production/x`),
 * ordered by path (byte order of their UTF-8), and carry a version (0 for unversioned records). A commit
 * changes records of one namespace atomically and appends one event to that namespace's ledger in the
 * same atomic step.
 *
 * Failures: a method that cannot reach its store rejects with `UnavailableError` and never answers as if
 * the data were absent. After a commit rejects with `UnavailableError`, its outcome is unknown; callers
 * retry with an idempotency key.
 */

/** A record as stored. */
export interface StoredRecord {
  readonly path: string;
  /** Version of the record; 0 when it is not versioned. */
  readonly version: number;
  readonly value: Uint8Array;
}

/** The record at `path` must currently have `version` (0: must not exist), or the commit does nothing. */
export interface Precondition {
  readonly path: string;
  readonly version: number;
}

export interface RecordWrite {
  readonly path: string;
  /** The version stored with the record (0 for unversioned records). */
  readonly version: number;
  readonly value: Uint8Array;
}

/** An event's content; the adapter adds its place in the chain. */
export interface EventDraft {
  /** SHA-256 (hex) of `body`. */
  readonly digest: string;
  readonly body: Uint8Array;
}

export interface Commit {
  readonly namespace: string;
  readonly preconditions: readonly Precondition[];
  readonly puts: readonly RecordWrite[];
  readonly deletes: readonly string[];
  readonly event: EventDraft;
}

export type CommitOutcome =
  | { readonly ok: true; readonly seq: number; readonly hash: string }
  | { readonly ok: false; readonly path: string; readonly expected: number; readonly actual: number };

/** One event of a namespace's ledger, as stored. */
export interface LedgerEntry {
  readonly namespace: string;
  /** 1, 2, 3, … within the namespace, without gaps. */
  readonly seq: number;
  readonly prevHash: string;
  /** `chainHash(prevHash, seq, digest)`. */
  readonly hash: string;
  readonly digest: string;
  readonly body: Uint8Array;
}

/** Where a namespace's ledger stands; `checkpoint` is the last event pruned away, if any. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
  readonly checkpoint: { readonly seq: number; readonly hash: string } | null;
}

export interface ScanOptions {
  /** Only paths strictly after this one (a cursor). */
  readonly after?: string;
  readonly limit: number;
}

/** An amount to add to the counter at `path` (a whole number; counters start at 0). */
export interface CountDelta {
  readonly path: string;
  readonly delta: number;
}

/** A counter as stored. */
export interface StoredCount {
  readonly path: string;
  readonly count: number;
}

/** Called after a commit is durable, in commit order per namespace. */
export type CommitListener = (namespace: string, seq: number) => void;

export interface StoreAdapter {
  readonly kind: string;
  get(namespace: string, path: string): Promise<StoredRecord | undefined>;
  getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]>;
  /** Records whose path starts with `prefix`, in path order. */
  scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]>;
  /** Namespaces holding data, in order, starting with `prefix`. */
  namespaces(prefix: string, options: ScanOptions): Promise<string[]>;
  /**
   * Applies a commit atomically: if every precondition holds, writes the puts, removes the deletes and
   * appends the event as `seq = head + 1`, `prevHash = head hash`; otherwise changes nothing and names
   * the first precondition that failed. Resolves only once the change is durable (as the adapter's
   * README defines it).
   */
  commit(commit: Commit): Promise<CommitOutcome>;
  /**
   * Optional, for adapters whose reads of damaged storage take the process down (LMDB): reads every
   * stored entry of the namespace's ledger (without a namespace: of the whole store) where a crash
   * cannot (another process), and resolves with what went wrong, or undefined when every page was
   * read. `Ledger.verify` and `FlagStore.check` call it before reading themselves.
   */
  checkPages?(namespace?: string): Promise<string | undefined>;
  /** Ledger entries with `seq >= fromSeq`, in order, at most `limit`. */
  readLedger(namespace: string, fromSeq: number, limit: number): Promise<LedgerEntry[]>;
  ledgerHead(namespace: string): Promise<LedgerHead>;
  /** Removes events with `seq <= throughSeq`, recording the last removed one as the checkpoint. */
  pruneLedger(namespace: string, throughSeq: number): Promise<void>;
  /**
   * Notifies of durable commits, from this process or others where the adapter can see them: at least of
   * every namespace's first commit, and of every commit of the namespaces passed to `follow`. Notifications
   * are hints to read the ledger: one may repeat, or tell of a commit made shortly before `watch` was called.
   */
  watch(listener: CommitListener): () => void;
  /**
   * Asks that watchers be told of every commit of `namespace` from now on (for as long as the adapter is
   * open). Resolves once that is in place; rejects only when the store cannot be reached, and then
   * notifications of the namespace may be missed (the change feed also polls).
   */
  follow(namespace: string): Promise<void>;
  /**
   * Counters, outside the ledger: analytics (exposure counts), never configuration. Adds each delta to
   * its counter (created at 0), all of one call atomically; entries naming the same path add up. Resolves
   * only once the change is as durable as a commit; no ledger event is written, no watcher notified, and
   * the namespace is not listed by `namespaces` for it. Counters live apart from records: `get` and
   * `scan` never see them, and a counter and a record may share a path. After a rejection with
   * `UnavailableError` the outcome is unknown, and a retry may count twice (the adapter itself never
   * applies one call twice).
   */
  addCounts(namespace: string, entries: readonly CountDelta[]): Promise<void>;
  /** Counters whose path starts with `prefix`, in path order (as `scan`); counters never added are absent. */
  readCounts(namespace: string, prefix: string, options: ScanOptions): Promise<StoredCount[]>;
  close(): Promise<void>;
}
