/**
 * The relay's last known good data, in its own LMDB directory: for each namespace of its environment,
 * the record lines and the position they reflect, plus what it learnt of the keys its SDKs use.
 *
 * Writes are ordered and batched by lmdb-js; the relay serves a change from memory before it is on disk,
 * and resumes its upstream from the positions on disk, so a crash loses nothing the upstream cannot
 * send again. A position is never moved back: a patch or snapshot older than what is stored is ignored.
 */
import { lineIdentity, type RecordChange } from '@switchyard/core';
import { type Database, open, type RootDatabase } from 'lmdb';

export interface StoredPosition {
  seq: number;
  committedAt: number;
}

/** What the relay knows of a key, so SDKs keep working while the upstream is down. */
export interface KnownKey {
  role: string;
  name: string;
  id: string;
  environments: string[];
  namespaces: string[];
  checkedAt: number;
}

const SEPARATOR = '\u0000';
const END = '\u{10FFFF}';

export class RelayStore {
  private readonly root: RootDatabase;
  private readonly lines: Database<Buffer, string>;
  private readonly positionsDb: Database<StoredPosition, string>;
  private readonly keys: Database<KnownKey, string>;
  private readonly meta: Database<unknown, string>;
  private readonly positions = new Map<string, StoredPosition>();
  private lastWrite: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.root = open({ path, maxDbs: 8 });
    this.lines = this.root.openDB({ name: 'lines', encoding: 'binary' });
    this.positionsDb = this.root.openDB({ name: 'positions' });
    this.keys = this.root.openDB({ name: 'keys' });
    this.meta = this.root.openDB({ name: 'meta' });
    for (const { key, value } of this.positionsDb.getRange()) this.positions.set(key, value);
  }

  /** The environment this directory holds, once known. */
  get environment(): string | undefined {
    return this.meta.get('environment') as string | undefined;
  }

  setEnvironment(environment: string): Promise<boolean> {
    return this.meta.put('environment', environment);
  }

  position(namespace: string): StoredPosition | undefined {
    return this.positions.get(namespace);
  }

  /** Namespace → seq for every namespace held. */
  allPositions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [namespace, position] of this.positions) out[namespace] = position.seq;
    return out;
  }

  namespaces(): string[] {
    return [...this.positions.keys()].sort();
  }

  /** How many namespaces are held. */
  get size(): number {
    return this.positions.size;
  }

  /** The lines of a namespace as stored (after every write so far). */
  async *namespaceLines(namespace: string, pageSize = 1000): AsyncGenerator<string[]> {
    await this.lastWrite;
    let page: string[] = [];
    for (const { value } of this.lines.getRange(rangeOf(namespace))) {
      page.push(value.toString('utf8'));
      if (page.length === pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /**
   * Replaces a namespace's records. Returns false (and writes nothing) when it holds a later position,
   * unless `reset` (the upstream's ledger was restored or reset, so its positions start again). Lines may
   * be views of a snapshot's bytes: they are copied only into the database.
   */
  replaceNamespace(
    namespace: string,
    seq: number,
    committedAt: number,
    lines: readonly Buffer[],
    reset = false,
  ): boolean {
    const held = this.positions.get(namespace);
    if (!reset && held !== undefined && held.seq > seq) return false;
    const position = { seq, committedAt };
    this.positions.set(namespace, position);
    this.lastWrite = this.root.childTransaction(() => {
      this.removeLinesSync(namespace);
      for (const line of lines) this.lines.putSync(namespace + SEPARATOR + identityOfBytes(line), line);
      this.positionsDb.putSync(namespace, position);
    });
    return true;
  }

  /** Drops a namespace the upstream no longer delivers. */
  dropNamespace(namespace: string): void {
    this.positions.delete(namespace);
    this.lastWrite = this.root.childTransaction(() => {
      this.removeLinesSync(namespace);
      this.positionsDb.removeSync(namespace);
    });
  }

  /**
   * Applies a patch's changes, in order: a put stores its line, a removal deletes the record's. Returns
   * false (and writes nothing) when `seq` is not beyond the position.
   */
  applyPatch(namespace: string, seq: number, committedAt: number, changes: readonly RecordChange[]): boolean {
    const held = this.positions.get(namespace);
    if (held !== undefined && held.seq >= seq) return false;
    const position = { seq, committedAt };
    this.positions.set(namespace, position);
    this.lastWrite = this.root.childTransaction(() => {
      for (const change of changes) {
        const key = namespace + SEPARATOR + lineIdentity(change.line);
        if (change.op === 'remove') this.lines.removeSync(key);
        else this.lines.putSync(key, Buffer.from(change.line, 'utf8'));
      }
      this.positionsDb.putSync(namespace, position);
    });
    return true;
  }

  /** Removes a namespace's lines; inside a transaction. */
  private removeLinesSync(namespace: string): void {
    for (const key of this.lines.getKeys(rangeOf(namespace))) this.lines.removeSync(key);
  }

  knownKey(hash: string): KnownKey | undefined {
    return this.keys.get(hash);
  }

  rememberKey(hash: string, key: KnownKey): void {
    void this.keys.put(hash, key);
  }

  async close(): Promise<void> {
    await this.lastWrite;
    await this.root.close();
  }
}

/** The keys of a namespace's lines. */
function rangeOf(namespace: string): { start: string; end: string } {
  return { start: namespace + SEPARATOR, end: namespace + SEPARATOR + END };
}

/** The identity of a line held as bytes. */
function identityOfBytes(line: Buffer): string {
  const tab = line.indexOf(0x09);
  return line.toString('utf8', 0, tab === -1 ? line.length : tab);
}
