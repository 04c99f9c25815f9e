/**
 * Damage found in the store, and the layer that finds it: every record read is checked against its
 * checksum (`recordDamage`) above any adapter, written once.
 *
 * What happens to damage:
 * - it is reported, once per record or ledger, to the `onDamage` listeners (the server logs it and
 *   counts it in a metric) and kept in `Integrity.report()` (the server's /readyz says "degraded");
 * - a damaged record is never read as absent (that would deliver a flag's implicit state, or let a write
 *   replace it): its bytes pass through, and decoding them (`decodeRecord`) throws `CorruptRecordError`.
 *   What needs that record fails clearly; lists leave it out and go on (`Queries.list`), so one bad
 *   record does not fail a whole namespace;
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
import { UnavailableError } from './errors.js';
import { recordDamage } from './records.js';

/**
 * One damaged record (`path`), a namespace's ledger that does not verify (`ledger`), or damage to the
 * store's files that is no one namespace's (`store`, namespace "*": every namespace refuses writes).
 */
export type Damage =
  | { readonly kind: 'record'; readonly namespace: string; readonly path: string; readonly detail: string }
  | { readonly kind: 'ledger'; readonly namespace: string; readonly detail: string }
  | { readonly kind: 'store'; readonly namespace: '*'; readonly detail: string };

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
    const id =
      damage.kind === 'record'
        ? `r ${damage.namespace} ${damage.path}`
        : `${damage.kind} ${damage.namespace}`;
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
    const damage = this.namespaces.get(namespace) ?? this.namespaces.get('*');
    if (damage === undefined) return;
    const what =
      damage.kind === 'record'
        ? `record ${damage.path} is damaged`
        : damage.kind === 'ledger'
          ? 'its ledger does not verify'
          : "the store's files are damaged";
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

  /** Reports the record if it fails its checksum; returns it as it is either way. */
  private checked<R extends StoredRecord | undefined>(namespace: string, record: R): R {
    if (record === undefined) return record;
    const detail = recordDamage(record.value);
    if (detail !== undefined) this.integrity.found({ kind: 'record', namespace, path: record.path, detail });
    return record;
  }

  async get(namespace: string, path: string): Promise<StoredRecord | undefined> {
    return this.checked(namespace, await this.inner.get(namespace, path));
  }

  async getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]> {
    return (await this.inner.getMany(namespace, paths)).map((r) => this.checked(namespace, r));
  }

  async scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]> {
    return (await this.inner.scan(namespace, prefix, options)).map((r) => this.checked(namespace, r));
  }

  namespaces(prefix: string, options: ScanOptions): Promise<string[]> {
    return this.inner.namespaces(prefix, options);
  }

  commit(commit: Commit): Promise<CommitOutcome> {
    this.integrity.checkWritable(commit.namespace);
    return this.inner.commit(commit);
  }

  async checkPages(namespace?: string): Promise<string | undefined> {
    return this.inner.checkPages?.(namespace);
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
