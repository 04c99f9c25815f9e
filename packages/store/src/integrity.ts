/**
 * Damage found in the store, and the layer that finds it: every record read is checked against its
 * checksum (`recordDamage`) above any adapter, written once.
 *
 * What happens to damage:
 * - it is reported, once per record or ledger, to the `onDamage` listeners (the server logs it and
 *   counts it in a metric) and kept in `Integrity.report()` (the server's /readyz says "degraded");
 * - reads keep serving what verifies: `scan` and `getMany` leave a damaged record out, as if absent (a
 *   scan still fills its page from the records after it), so one bad record does not fail a whole list;
 *   `get` of a damaged record rejects with `CorruptRecordError`;
 * - writes fail closed: a commit to a namespace with a damaged record or a ledger that does not verify is
 *   refused with `UnavailableError` until the process restarts on a repaired store.
 */
import type {
  Commit,
  CommitListener,
  CommitOutcome,
  CountDelta,
  LedgerEntry,
  LedgerHead,
  ScanOptions,
  StoreAdapter,
  StoredCount,
  StoredRecord,
} from './contract.js';
import { CorruptRecordError, UnavailableError } from './errors.js';
import { recordDamage } from './records.js';

/** One damaged record (`path`), or a namespace's ledger that does not verify (`ledger`). */
export type Damage =
  | { readonly kind: 'record'; readonly namespace: string; readonly path: string; readonly detail: string }
  | { readonly kind: 'ledger'; readonly namespace: string; readonly detail: string };

/** The longest list of damage kept (each namespace is refused writes whatever the list holds). */
const MAX_KEPT = 100;

/** Damage found since the store was opened (in this process). */
export class Integrity {
  private readonly kept: Damage[] = [];
  private readonly seen = new Set<string>();
  private readonly namespaces = new Map<string, Damage>();
  private readonly listeners = new Set<(damage: Damage) => void>();

  /** Records damage; listeners hear of each record or ledger once. */
  found(damage: Damage): void {
    const id = damage.kind === 'record' ? `r ${damage.namespace} ${damage.path}` : `l ${damage.namespace}`;
    if (this.seen.has(id)) return;
    if (this.seen.size < MAX_KEPT * 100) this.seen.add(id);
    if (!this.namespaces.has(damage.namespace)) this.namespaces.set(damage.namespace, damage);
    if (this.kept.length < MAX_KEPT) this.kept.push(damage);
    for (const listener of this.listeners) listener(damage);
  }

  /** Told of each new damage; returns a function that stops it. */
  onDamage(listener: (damage: Damage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Damage found so far (the first 100), and the namespaces refused writes. */
  report(): { damage: readonly Damage[]; namespaces: readonly string[] } {
    return { damage: [...this.kept], namespaces: [...this.namespaces.keys()] };
  }

  /** Throws `UnavailableError` if `namespace` may not be written because of damage. */
  checkWritable(namespace: string): void {
    const damage = this.namespaces.get(namespace);
    if (damage === undefined) return;
    const what = damage.kind === 'record' ? `record ${damage.path} is damaged` : 'its ledger does not verify';
    throw new UnavailableError(
      `namespace "${namespace}" is refused writes: ${what} (${damage.detail}); repair or restore the store`,
    );
  }
}

/** An adapter whose reads are checked against records' checksums and whose writes fail closed. */
export class VerifiedAdapter implements StoreAdapter {
  readonly kind: string;

  constructor(
    private readonly inner: StoreAdapter,
    private readonly integrity: Integrity,
  ) {
    this.kind = inner.kind;
  }

  /** The record, or undefined if it is damaged (reported). */
  private verified(namespace: string, record: StoredRecord | undefined): StoredRecord | undefined {
    if (record === undefined) return undefined;
    const detail = recordDamage(record.value);
    if (detail === undefined) return record;
    this.integrity.found({ kind: 'record', namespace, path: record.path, detail });
    return undefined;
  }

  async get(namespace: string, path: string): Promise<StoredRecord | undefined> {
    const record = await this.inner.get(namespace, path);
    if (record === undefined || this.verified(namespace, record) !== undefined) return record;
    throw new CorruptRecordError(namespace, path, recordDamage(record.value)!);
  }

  async getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]> {
    return (await this.inner.getMany(namespace, paths)).map((r) => this.verified(namespace, r));
  }

  async scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    let after = options.after;
    // A page short of `limit` means the end to callers: refill what damage left out.
    for (;;) {
      const want = options.limit - out.length;
      const page = await this.inner.scan(namespace, prefix, {
        ...(after === undefined ? {} : { after }),
        limit: want,
      });
      for (const record of page) {
        if (this.verified(namespace, record) !== undefined) out.push(record);
      }
      if (page.length < want || out.length >= options.limit) return out;
      after = page[page.length - 1]!.path;
    }
  }

  namespaces(prefix: string, options: ScanOptions): Promise<string[]> {
    return this.inner.namespaces(prefix, options);
  }

  commit(commit: Commit): Promise<CommitOutcome> {
    this.integrity.checkWritable(commit.namespace);
    return this.inner.commit(commit);
  }

  async checkLedger(namespace: string): Promise<string | undefined> {
    return this.inner.checkLedger?.(namespace);
  }

  readLedger(namespace: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    return this.inner.readLedger(namespace, fromSeq, limit);
  }

  ledgerHead(namespace: string): Promise<LedgerHead> {
    return this.inner.ledgerHead(namespace);
  }

  pruneLedger(namespace: string, throughSeq: number): Promise<void> {
    this.integrity.checkWritable(namespace);
    return this.inner.pruneLedger(namespace, throughSeq);
  }

  watch(listener: CommitListener): () => void {
    return this.inner.watch(listener);
  }

  follow(namespace: string): Promise<void> {
    return this.inner.follow(namespace);
  }

  addCounts(namespace: string, entries: readonly CountDelta[]): Promise<void> {
    return this.inner.addCounts(namespace, entries);
  }

  readCounts(namespace: string, prefix: string, options: ScanOptions): Promise<StoredCount[]> {
    return this.inner.readCounts(namespace, prefix, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
