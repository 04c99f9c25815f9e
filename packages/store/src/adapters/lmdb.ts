/**
 * The embedded adapter: one LMDB environment in one directory, safe for several processes to read
 * while one or more write (LMDB serialises writers with its own lock).
 *
 * Each commit runs as a child transaction of lmdb-js's batched write transaction: its preconditions,
 * writes, ledger append and head update happen together or not at all, and commits made concurrently
 * share one durable flush (group commit). A commit resolves only after the flush, so an acknowledged
 * change survives a crash of the process or the machine. Counters (`addCounts`) live in a database of their
 * own, keyed like records, and are flushed the same way.
 */
import { ABORT, type Database, open, type RootDatabase } from 'lmdb';
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
} from '../contract.js';
import { UnavailableError } from '../errors.js';
import { chainHash, GENESIS } from '../ledger.js';

export interface LmdbAdapterOptions {
  /** The directory holding the database (created when missing). */
  path: string;
  /** Skip fsync: faster, and an acknowledged change may be lost on a machine crash. For tests and benchmarks. */
  noSync?: boolean;
}

interface StoredEntry {
  prevHash: string;
  hash: string;
  digest: string;
  body: Uint8Array;
}

// The largest code point: every path that starts with a prefix sorts before prefix + this.
const END = '\u{10FFFF}';

// perf: a record's key is one string, "namespace \x01 path" (string keys encode about twice as fast as
// [namespace, path] arrays); \x01 sorts below every character of a namespace, so order is the same.
const SEPARATOR = '\u0001';
const recordKey = (namespace: string, path: string) => namespace + SEPARATOR + path;

export class LmdbAdapter implements StoreAdapter {
  readonly kind = 'lmdb';
  private readonly root: RootDatabase;
  private readonly records: Database<Buffer, string>;
  private readonly ledger: Database<StoredEntry, [string, number]>;
  private readonly heads: Database<LedgerHead, string>;
  private readonly counters: Database<number, string>;
  private readonly listeners = new Set<CommitListener>();
  private closed = false;

  constructor(options: LmdbAdapterOptions) {
    this.root = open({ path: options.path, maxDbs: 8, noSync: options.noSync === true });
    this.records = this.root.openDB<Buffer, string>({
      name: 'records',
      useVersions: true,
      encoding: 'binary',
    });
    this.ledger = this.root.openDB<StoredEntry, [string, number]>({ name: 'ledger' });
    this.heads = this.root.openDB<LedgerHead, string>({ name: 'heads' });
    // Counters (outside the ledger), keyed like records.
    this.counters = this.root.openDB<number, string>({ name: 'counters' });
  }

  private check(): void {
    if (this.closed) throw new UnavailableError('the LMDB store is closed');
  }

  private read(namespace: string, path: string): StoredRecord | undefined {
    const entry = this.records.getEntry(recordKey(namespace, path));
    return entry === undefined ? undefined : { path, version: entry.version ?? 0, value: entry.value };
  }

  async get(namespace: string, path: string): Promise<StoredRecord | undefined> {
    this.check();
    return this.read(namespace, path);
  }

  async getMany(namespace: string, paths: readonly string[]): Promise<(StoredRecord | undefined)[]> {
    this.check();
    return paths.map((path) => this.read(namespace, path));
  }

  async scan(namespace: string, prefix: string, options: ScanOptions): Promise<StoredRecord[]> {
    this.check();
    const start = options.after !== undefined && options.after > prefix ? options.after : prefix;
    const out: StoredRecord[] = [];
    const skip = namespace.length + 1;
    for (const { key, value, version } of this.records.getRange({
      start: recordKey(namespace, start),
      end: recordKey(namespace, prefix + END),
      versions: true,
    })) {
      const path = key.slice(skip);
      if (path === options.after) continue;
      out.push({ path, version: version ?? 0, value });
      if (out.length >= options.limit) break;
    }
    return out;
  }

  async namespaces(prefix: string, options: ScanOptions): Promise<string[]> {
    this.check();
    const start = options.after !== undefined && options.after > prefix ? options.after : prefix;
    const out: string[] = [];
    for (const key of this.heads.getKeys({ start, end: prefix + END })) {
      if (key === options.after) continue;
      out.push(key);
      if (out.length >= options.limit) break;
    }
    return out;
  }

  async commit(commit: Commit): Promise<CommitOutcome> {
    this.check();
    const ns = commit.namespace;
    let outcome: CommitOutcome | undefined;
    await this.records.childTransaction(() => {
      for (const p of commit.preconditions) {
        const entry = this.records.getEntry(recordKey(ns, p.path));
        const actual = entry === undefined ? 0 : (entry.version ?? 0);
        if (actual !== p.version) {
          outcome = { ok: false, path: p.path, expected: p.version, actual };
          return ABORT;
        }
      }
      const head = this.heads.get(ns) ?? { seq: 0, hash: GENESIS, checkpoint: null };
      const seq = head.seq + 1;
      const hash = chainHash(head.hash, seq, commit.event.digest);
      for (const w of commit.puts) {
        // perf: a Buffer view of the same bytes, not a copy.
        this.records.putSync(
          recordKey(ns, w.path),
          Buffer.from(w.value.buffer, w.value.byteOffset, w.value.byteLength),
          w.version,
        );
      }
      for (const path of commit.deletes) this.records.removeSync(recordKey(ns, path));
      this.ledger.putSync([ns, seq], {
        prevHash: head.hash,
        hash,
        digest: commit.event.digest,
        body: commit.event.body,
      });
      this.heads.putSync(ns, { seq, hash, checkpoint: head.checkpoint });
      outcome = { ok: true, seq, hash };
      return undefined;
    });
    if (outcome === undefined) throw new UnavailableError('the LMDB commit did not run');
    if (outcome.ok) {
      await this.root.flushed;
      for (const listener of this.listeners) listener(ns, outcome.seq);
    }
    return outcome;
  }

  async readLedger(namespace: string, fromSeq: number, limit: number): Promise<LedgerEntry[]> {
    this.check();
    const out: LedgerEntry[] = [];
    for (const { key, value } of this.ledger.getRange({
      start: [namespace, fromSeq],
      end: [namespace, Number.MAX_SAFE_INTEGER],
      limit,
    })) {
      out.push({ namespace, seq: key[1], ...value, body: new Uint8Array(value.body) });
    }
    return out;
  }

  async ledgerHead(namespace: string): Promise<LedgerHead> {
    this.check();
    return this.heads.get(namespace) ?? { seq: 0, hash: GENESIS, checkpoint: null };
  }

  async pruneLedger(namespace: string, throughSeq: number): Promise<void> {
    this.check();
    await this.ledger.childTransaction(() => {
      const head = this.heads.get(namespace);
      if (head === undefined) return;
      const last = Math.min(throughSeq, head.seq);
      const kept = this.ledger.get([namespace, last]);
      if (kept === undefined) return; // already pruned that far
      for (const key of this.ledger.getKeys({ start: [namespace, 0], end: [namespace, last + 1] })) {
        this.ledger.removeSync(key);
      }
      this.heads.putSync(namespace, { ...head, checkpoint: { seq: last, hash: kept.hash } });
    });
    await this.root.flushed;
  }

  async addCounts(namespace: string, entries: readonly CountDelta[]): Promise<void> {
    this.check();
    if (entries.length === 0) return;
    await this.counters.childTransaction(() => {
      for (const { path, delta } of entries) {
        const key = recordKey(namespace, path);
        this.counters.putSync(key, (this.counters.get(key) ?? 0) + delta);
      }
    });
    await this.root.flushed;
  }

  async readCounts(namespace: string, prefix: string, options: ScanOptions): Promise<StoredCount[]> {
    this.check();
    const start = options.after !== undefined && options.after > prefix ? options.after : prefix;
    const out: StoredCount[] = [];
    const skip = namespace.length + 1;
    for (const { key, value } of this.counters.getRange({
      start: recordKey(namespace, start),
      end: recordKey(namespace, prefix + END),
    })) {
      const path = key.slice(skip);
      if (path === options.after) continue;
      out.push({ path, count: value });
      if (out.length >= options.limit) break;
    }
    return out;
  }

  watch(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.root.close();
  }
}
