/**
 * The embedded adapter: one LMDB environment in one directory, safe for several processes to read
 * while one or more write (LMDB serialises writers with its own lock).
 *
 * A commit's preconditions, writes, ledger append and head update happen together or not at all, in
 * lmdb-js's batched write transaction: a small commit (a change) as a child transaction run on the main
 * thread, a large one (a bulk load's batch) as a conditional block carried out on lmdb-js's write thread.
 * Commits made concurrently share one transaction and one durable flush (group commit). A commit resolves
 * only after the flush, so an acknowledged change survives a crash of the process or the machine.
 * Counters (`addCounts`) live in a database of their own, keyed like records, and are flushed the same way.
 *
 * Record and counter keys are bytes this adapter makes (see `recordKey`), so LMDB's order is the contract's
 * (UTF-8 byte order of paths); every range read also checks each key it returns against its bounds.
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
import { checkDataDirectory, checkInChild, markInitialised } from './lmdb-files.js';
import { KEY_FORMAT, keyBounds, migrateKeys, recordKey, recordPath } from './lmdb-keys.js';

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

// The largest code point: every namespace that starts with a prefix sorts before prefix + this.
const END = '\u{10FFFF}';

// A namespace's ledger head is its entry in `heads`. Its revision, bumped by every commit and prune, is the
// version of its entry in `revisions` (an empty value): commits are written on condition that it has not
// moved. Builds before `revisions` existed ignore it, so a store can be opened by one and back again (not
// by both at once).
const NO_VALUE = Buffer.alloc(0);
// LMDB's default largest key (lmdb-js's maxKeySize), less a margin.
const MAX_KEY_BYTES = 1970;
// A commit queued behind others that were not written is queued again; so is one that lost the head to
// another process. Past this many tries, the store is too contended to call it anything but unavailable.
const HEAD_RETRIES = 100;

/** Commits writing at most this many records run as child transactions; larger ones are queued. */
const SMALL_COMMIT = 64;

interface CommitKeys {
  readonly puts: readonly Buffer[];
  readonly deletes: readonly Buffer[];
}

// perf: a Buffer view of the same bytes, not a copy.
const asBuffer = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength);

/** A namespace's head as the commits queued so far leave it; `chain` is shared by commits queued on each other. */
interface PendingHead extends LedgerHead {
  revision: number;
  chain: object;
}

export class LmdbAdapter implements StoreAdapter {
  readonly kind = 'lmdb';
  private readonly root: RootDatabase;
  private readonly records: Database<Buffer, Buffer>;
  private readonly ledger: Database<StoredEntry, [string, number]>;
  private readonly heads: Database<LedgerHead, string>;
  private readonly revisions: Database<Buffer, string>;
  private readonly counters: Database<number, Buffer>;
  private readonly listeners = new Set<CommitListener>();
  private readonly pending = new Map<string, PendingHead>();
  private closed = false;
  private readonly path: string;

  /**
   * Opens the store in `options.path`, after checking its files (`checkDataDirectory`): throws
   * `DataFileError`, with a one-line reason, for a store whose data file was lost, truncated or damaged.
   */
  constructor(options: LmdbAdapterOptions) {
    checkDataDirectory(options.path);
    this.path = options.path;
    this.root = open({ path: options.path, maxDbs: 8, noSync: options.noSync === true });
    this.records = this.root.openDB<Buffer, Buffer>({
      name: 'records',
      useVersions: true,
      encoding: 'binary',
      keyEncoding: 'binary',
    });
    this.ledger = this.root.openDB<StoredEntry, [string, number]>({ name: 'ledger' });
    this.heads = this.root.openDB<LedgerHead, string>({ name: 'heads' });
    // perf: a small database of its own, so the revisions a group commit moves share a few pages.
    this.revisions = this.root.openDB<Buffer, string>({
      name: 'revisions',
      useVersions: true,
      encoding: 'binary',
    });
    // Counters (outside the ledger), keyed like records.
    this.counters = this.root.openDB<number, Buffer>({ name: 'counters', keyEncoding: 'binary' });
    const meta = this.root.openDB<number, string>({ name: 'meta' });
    if (meta.get('keyFormat') !== KEY_FORMAT) {
      this.root.transactionSync(() => {
        if (meta.get('keyFormat') === KEY_FORMAT) return; // another process migrated meanwhile
        migrateKeys(this.records, true);
        migrateKeys(this.counters, false);
        meta.putSync('keyFormat', KEY_FORMAT);
      });
    }
    markInitialised(options.path);
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
    return this.range(this.records, true, namespace, prefix, options, (path, { value, version }) => ({
      path,
      version: version ?? 0,
      value,
    }));
  }

  /**
   * Entries of `db` in `namespace` whose path starts with `prefix`, after `options.after`, at most
   * `options.limit`, in path order, as `row` makes them (with their versions where `db` keeps them).
   */
  private range<V, T>(
    db: Database<V, Buffer>,
    versions: boolean,
    namespace: string,
    prefix: string,
    options: ScanOptions,
    row: (path: string, entry: { value: V; version?: number }) => T,
  ): T[] {
    const bounds = keyBounds(namespace, prefix, options.after);
    const out: T[] = [];
    if (bounds === undefined) return out;
    for (const entry of db.getRange({ start: bounds.start, end: bounds.end, versions })) {
      if (bounds.exclusive && entry.key.equals(bounds.start)) continue;
      if (!bounds.holds(entry.key)) {
        throw new UnavailableError(
          `the LMDB range read of "${namespace}" from "${prefix}" returned a key outside its bounds`,
        );
      }
      out.push(row(recordPath(namespace, entry.key), entry));
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
      if (typeof key !== 'string' || !key.startsWith(prefix) || key < start) {
        throw new UnavailableError(
          `the LMDB namespace list from "${prefix}" returned a key outside its bounds`,
        );
      }
      out.push(key);
      if (out.length >= options.limit) break;
    }
    return out;
  }

  async commit(commit: Commit): Promise<CommitOutcome> {
    this.check();
    const ns = commit.namespace;
    // A key LMDB refuses would throw halfway through the writes: refuse the commit before any.
    const keys = {
      puts: commit.puts.map((w) => this.checkedKey(ns, w.path)),
      deletes: commit.deletes.map((path) => this.checkedKey(ns, path)),
    };
    const outcome =
      commit.puts.length + commit.deletes.length <= SMALL_COMMIT
        ? await this.commitInTransaction(commit, keys)
        : await this.commitQueued(commit, keys);
    if (outcome.ok) {
      await this.root.flushed;
      for (const listener of this.listeners) listener(ns, outcome.seq);
    }
    return outcome;
  }

  /**
   * A small commit (a change to a flag) runs as a child transaction of the batched write transaction, on
   * the main thread: it reads the head inside the transaction, so commits of one namespace never wait on
   * each other's outcome. Under contention this answers sooner than a queued commit.
   */
  private async commitInTransaction(commit: Commit, keys: CommitKeys): Promise<CommitOutcome> {
    const ns = commit.namespace;
    let outcome: CommitOutcome | undefined;
    await this.records.childTransaction(() => {
      outcome = this.failedPrecondition(ns, commit.preconditions);
      if (outcome !== undefined) return ABORT;
      const { head, revision } = this.storedHead(ns);
      const seq = head.seq + 1;
      const hash = chainHash(head.hash, seq, commit.event.digest);
      commit.puts.forEach((w, i) => {
        this.records.putSync(keys.puts[i]!, asBuffer(w.value), w.version);
      });
      for (const key of keys.deletes) this.records.removeSync(key);
      this.ledger.putSync([ns, seq], {
        prevHash: head.hash,
        hash,
        digest: commit.event.digest,
        body: commit.event.body,
      });
      this.heads.putSync(ns, { seq, hash, checkpoint: head.checkpoint });
      this.revisions.putSync(ns, NO_VALUE, revision + 1);
      outcome = { ok: true, seq, hash };
      return undefined;
    });
    if (outcome === undefined) throw new UnavailableError('the LMDB commit did not run');
    return outcome;
  }

  /**
   * A large commit (a bulk load's batch) is queued as one conditional block, carried out on lmdb-js's
   * write thread, so the main thread goes on building the next. It may be queued behind its namespace's
   * commits not yet written, on the head they will leave; if one of them is refused, the ones behind it
   * are queued again.
   */
  private async commitQueued(commit: Commit, keys: CommitKeys): Promise<CommitOutcome> {
    const ns = commit.namespace;
    const puts = commit.puts.map((w) => asBuffer(w.value));
    for (let attempt = 1; ; attempt++) {
      const base = this.headFor(ns);
      const seq = base.seq + 1;
      const hash = chainHash(base.hash, seq, commit.event.digest);
      const next: PendingHead = {
        seq,
        hash,
        checkpoint: base.checkpoint,
        revision: base.revision + 1,
        chain: base.chain,
      };
      this.pending.set(ns, next);
      // Everything is prepared before the writes are queued: a throw among them would leave the ones
      // queued before it in the block.
      const entry = { prevHash: base.hash, hash, digest: commit.event.digest, body: commit.event.body };
      let written: boolean;
      try {
        written = await this.conditionally(
          [
            { db: this.revisions, key: ns, version: base.revision },
            ...commit.preconditions.map((p) => ({
              db: this.records,
              key: recordKey(ns, p.path),
              version: p.version,
            })),
          ],
          () => {
            for (let i = 0; i < puts.length; i++)
              this.records.put(keys.puts[i]!, puts[i]!, commit.puts[i]!.version);
            for (const key of keys.deletes) this.records.remove(key);
            this.ledger.put([ns, seq], entry);
            this.revisions.put(ns, NO_VALUE, next.revision);
            this.heads.put(ns, { seq, hash, checkpoint: base.checkpoint });
          },
        );
      } catch (error) {
        this.forget(ns, next.chain);
        throw new UnavailableError(`the LMDB commit failed: ${(error as Error).message}`);
      }
      if (written) {
        // Nothing queued behind it: the stored head is the head again (so the map holds only busy namespaces).
        if (this.pending.get(ns) === next) this.pending.delete(ns);
        return { ok: true, seq, hash };
      }
      // Not written: the head moved (another process wrote, or an earlier commit of this chain was not
      // written), or a precondition failed. Only the second is the caller's answer.
      this.forget(ns, next.chain);
      this.root.resetReadTxn();
      if ((this.revisions.getEntry(ns)?.version ?? 0) === base.revision) {
        const refused = this.failedPrecondition(ns, commit.preconditions);
        if (refused !== undefined) return refused;
      }
      if (attempt >= HEAD_RETRIES) {
        throw new UnavailableError(
          `the LMDB commit to "${ns}" lost the race for the ledger head ${attempt} times`,
        );
      }
    }
  }

  /**
   * Queues `write`'s puts and removes as one conditional block of lmdb-js's batched write transaction:
   * they are written, on its write thread, only if every record has its version (0: absent). Resolves
   * whether they were.
   */
  private conditionally(
    conditions: readonly { db: Database<Buffer, string | Buffer>; key: string | Buffer; version: number }[],
    write: () => void,
  ): Promise<boolean> {
    const nest = (i: number): Promise<boolean> => {
      if (i === conditions.length) {
        write();
        return Promise.resolve(true);
      }
      const { db, key, version } = conditions[i]!;
      let inner: Promise<boolean> = Promise.resolve(false);
      // lmdb-js takes null for "no entry" (its types say number).
      const outer = db.ifVersion(key, version === 0 ? (null as unknown as number) : version, () => {
        inner = nest(i + 1);
      }) as Promise<boolean>;
      return Promise.all([outer, inner]).then(([a, b]) => a && b);
    };
    return nest(0);
  }

  /** The first precondition the stored records (as this transaction or read sees them) do not meet. */
  private failedPrecondition(ns: string, preconditions: Commit['preconditions']): CommitOutcome | undefined {
    for (const p of preconditions) {
      const entry = this.records.getEntry(recordKey(ns, p.path));
      const actual = entry === undefined ? 0 : (entry.version ?? 0);
      if (actual !== p.version) return { ok: false, path: p.path, expected: p.version, actual };
    }
    return undefined;
  }

  /** The head the next commit of `ns` follows: after the commits queued and not yet written, else as stored. */
  private headFor(ns: string): PendingHead {
    const pending = this.pending.get(ns);
    if (pending !== undefined) return pending;
    const { head, revision } = this.storedHead(ns);
    return { ...head, revision, chain: {} };
  }

  /** The head as stored, and its revision (0 before its first commit under this build). */
  private storedHead(ns: string): { head: LedgerHead; revision: number } {
    return {
      head: this.heads.get(ns) ?? { seq: 0, hash: GENESIS, checkpoint: null },
      revision: this.revisions.getEntry(ns)?.version ?? 0,
    };
  }

  /** Drops the queued head of `ns` if it belongs to `chain` (whose commits will not be written). */
  private forget(ns: string, chain: object): void {
    if (this.pending.get(ns)?.chain === chain) this.pending.delete(ns);
  }

  /** The record's key, refused before any write is queued if LMDB would refuse it. */
  private checkedKey(ns: string, path: string): Buffer {
    const key = recordKey(ns, path);
    if (key.length > MAX_KEY_BYTES) {
      throw new UnavailableError(
        `record path "${path.slice(0, 80)}…" in "${ns}" is too long for LMDB (at most ${MAX_KEY_BYTES} bytes with its namespace)`,
      );
    }
    return key;
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

  /** Reads pages in a child process (`lmdb-check.ts`), so that a damaged page is a report. */
  checkPages(namespace?: string): Promise<string | undefined> {
    this.check();
    return checkInChild(this.path, namespace);
  }

  async ledgerHead(namespace: string): Promise<LedgerHead> {
    this.check();
    return this.storedHead(namespace).head;
  }

  async pruneLedger(namespace: string, throughSeq: number): Promise<void> {
    this.check();
    await this.ledger.childTransaction(() => {
      const { head, revision } = this.storedHead(namespace);
      if (head.seq === 0) return;
      const last = Math.min(throughSeq, head.seq);
      const kept = this.ledger.get([namespace, last]);
      if (kept === undefined) return; // already pruned that far
      for (const key of this.ledger.getKeys({ start: [namespace, 0], end: [namespace, last + 1] })) {
        this.ledger.removeSync(key);
      }
      // A new revision: commits queued on the head as it was are refused and queued again on this one.
      this.heads.putSync(namespace, { ...head, checkpoint: { seq: last, hash: kept.hash } });
      this.revisions.putSync(namespace, NO_VALUE, revision + 1);
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
    return this.range(this.counters, false, namespace, prefix, options, (path, { value }) => ({
      path,
      count: value,
    }));
  }

  watch(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Watchers are told of every commit of this process anyway. */
  async follow(_namespace: string): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.root.close();
  }
}
