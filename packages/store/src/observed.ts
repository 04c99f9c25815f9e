/**
 * An adapter that reports the duration and outcome of every operation of the adapter it wraps — how
 * metrics are taken once, above any adapter.
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

/** Called after each operation: its name, its duration in seconds, and whether it succeeded. */
export type StoreObserver = (operation: string, seconds: number, ok: boolean) => void;

export class ObservedAdapter implements StoreAdapter {
  constructor(
    private readonly inner: StoreAdapter,
    private readonly observe: StoreObserver,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  private async time<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      this.observe(operation, (performance.now() - started) / 1000, true);
      return result;
    } catch (error) {
      this.observe(operation, (performance.now() - started) / 1000, false);
      throw error;
    }
  }

  get(namespace: string, path: string): Promise<StoredRecord | undefined> {
    return this.time('get', () => this.inner.get(namespace, path));
  }

  getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]> {
    return this.time('getMany', () => this.inner.getMany(namespace, paths));
  }

  scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]> {
    return this.time('scan', () => this.inner.scan(namespace, prefix, options));
  }

  namespaces(prefix: string, options: ScanOptions): Promise<string[]> {
    return this.time('namespaces', () => this.inner.namespaces(prefix, options));
  }

  commit(commit: Commit): Promise<CommitOutcome> {
    return this.time('commit', () => this.inner.commit(commit));
  }

  async checkPages(namespace?: string): Promise<string | undefined> {
    return this.inner.checkPages?.(namespace);
  }

  readLedger(namespace: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    return this.time('readLedger', () => this.inner.readLedger(namespace, fromSeq, limit));
  }

  ledgerHead(namespace: string): Promise<LedgerHead> {
    return this.time('ledgerHead', () => this.inner.ledgerHead(namespace));
  }

  pruneLedger(namespace: string, throughSeq: number): Promise<void> {
    return this.time('pruneLedger', () => this.inner.pruneLedger(namespace, throughSeq));
  }

  addCounts(namespace: string, entries: readonly CountDelta[]): Promise<void> {
    return this.time('addCounts', () => this.inner.addCounts(namespace, entries));
  }

  readCounts(namespace: string, prefix: string, options: ScanOptions): Promise<StoredCount[]> {
    return this.time('readCounts', () => this.inner.readCounts(namespace, prefix, options));
  }

  watch(listener: CommitListener): () => void {
    return this.inner.watch(listener);
  }

  follow(namespace: string): Promise<void> {
    return this.inner.follow(namespace);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
