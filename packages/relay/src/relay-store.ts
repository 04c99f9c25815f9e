/**
 * The relay's last known good data, in its own LMDB directory: for each namespace of its environment,
 * the record lines and the position they reflect, plus what it learnt of the keys its SDKs use.
 *
 * Writes are ordered and batched by lmdb-js; the relay serves a change from memory before it is on disk,
 * and resumes its upstream from the positions on disk, so a crash loses nothing the upstream cannot
 * send again. A position is never moved back: a patch or snapshot older than what is stored is ignored.
 *
 * Lines of flags whose values are sensitive are sealed (`LineSealer` of `@switchyard/sdk`) under a key
 * derived from the relay's upstream key, which the directory never holds; every line carries a checksum
 * (`stored-lines.ts`), checked when the directory is opened and whenever a line is read.
 */
import { randomBytes } from 'node:crypto';
import { lineIdentity, type RecordChange } from '@switchyard/core';
import { LineSealer } from '@switchyard/sdk';
import { type Database, open, type RootDatabase } from 'lmdb';
import { StoredLines } from './stored-lines.js';

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

/** The databases of the directory, and how many it may hold. */
export const DATABASES = ['lines', 'positions', 'keys', 'meta'] as const;
export const MAX_DBS = 8;

/** What the directory keeps of the sealing key: its salt, and a check that tells the key again. */
interface Sealing {
  salt: string;
  check: string;
}

/** The directory's sensitive lines were sealed with another upstream key than the one given. */
export class SealedWithAnotherKeyError extends Error {
  override name = 'SealedWithAnotherKeyError';
}

/** The directory's records do not read back as what this relay wrote (damaged, or not a relay's). */
export class DamagedDataError extends Error {
  override name = 'DamagedDataError';
}

const isPosition = (value: unknown): value is StoredPosition =>
  typeof value === 'object' &&
  value !== null &&
  Number.isSafeInteger((value as StoredPosition).seq) &&
  (value as StoredPosition).seq >= 0 &&
  Number.isFinite((value as StoredPosition).committedAt);

const isSealing = (value: unknown): value is Sealing =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Sealing).salt === 'string' &&
  typeof (value as Sealing).check === 'string';

export class RelayStore {
  private readonly root: RootDatabase;
  private readonly lines: Database<Buffer, string>;
  private readonly positionsDb: Database<StoredPosition, string>;
  private readonly keys: Database<KnownKey, string>;
  private readonly meta: Database<unknown, string>;
  private readonly positions = new Map<string, StoredPosition>();
  private lastWrite: Promise<unknown> = Promise.resolve();
  private codec!: StoredLines;

  /**
   * Opens the directory with the relay's upstream key `secret`. Throws, the directory closed,
   * `SealedWithAnotherKeyError` when its sensitive lines were sealed with another key, and
   * `DamagedDataError` when its positions, settings or lines do not read back.
   */
  static async open(path: string, secret: string): Promise<RelayStore> {
    const store = new RelayStore(path);
    try {
      await store.useKey(secret, store.load());
      store.verifyLines();
    } catch (error) {
      await store.root.close();
      throw error;
    }
    return store;
  }

  private constructor(path: string) {
    this.root = open({ path, maxDbs: MAX_DBS });
    this.lines = this.root.openDB({ name: 'lines', encoding: 'binary' });
    this.positionsDb = this.root.openDB({ name: 'positions' });
    this.keys = this.root.openDB({ name: 'keys' });
    this.meta = this.root.openDB({ name: 'meta' });
  }

  /** Reads the positions held, checking them and the directory's settings; returns its sealing. */
  private load(): Sealing | undefined {
    try {
      for (const { key, value } of this.positionsDb.getRange()) {
        if (!isPosition(value)) throw new Error(`the position of ${JSON.stringify(key)} is not one`);
        this.positions.set(key, value);
      }
      const environment = this.meta.get('environment');
      if (environment !== undefined && typeof environment !== 'string') throw new Error('no environment');
      const sealing = this.meta.get('sealing');
      if (sealing !== undefined && !isSealing(sealing)) throw new Error('no sealing salt');
      return sealing;
    } catch (error) {
      throw new DamagedDataError(`its records do not read back: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Seals with `secret`'s key from now on. A directory without sealing yet gets a salt, and the lines
   * an older relay kept as they came are stored again (sealed when sensitive, with their checksum).
   */
  private async useKey(secret: string, sealing: Sealing | undefined): Promise<void> {
    if (sealing !== undefined) {
      const sealer = new LineSealer(secret, Buffer.from(sealing.salt, 'base64'), 'relay-data');
      if (sealer.check !== sealing.check) {
        throw new SealedWithAnotherKeyError('its sensitive values are sealed with another upstream key');
      }
      this.codec = new StoredLines(sealer);
      return;
    }
    const salt = randomBytes(16);
    const sealer = new LineSealer(secret, salt, 'relay-data');
    this.codec = new StoredLines(sealer);
    await this.root.transaction(() => {
      const keys = [...this.lines.getKeys()];
      for (const key of keys) this.lines.putSync(key, this.codec.encode(key, this.lines.get(key)!));
      this.meta.putSync('sealing', { salt: salt.toString('base64'), check: sealer.check });
    });
  }

  /** Checks every line's checksum; throws `DamagedDataError` at the first that fails. */
  private verifyLines(): void {
    for (const { key, value } of this.lines.getRange()) {
      try {
        this.codec.check(key, value);
      } catch (error) {
        throw new DamagedDataError((error as Error).message, { cause: error });
      }
    }
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
    for (const { key, value } of this.lines.getRange(rangeOf(namespace))) {
      page.push(this.codec.decode(key, value));
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
      for (const line of lines) {
        const key = namespace + SEPARATOR + identityOfBytes(line);
        this.lines.putSync(key, this.codec.encode(key, line));
      }
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
        else this.lines.putSync(key, this.codec.encode(key, Buffer.from(change.line, 'utf8')));
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

  /** Forgets a key its upstream refused, so that an outage never brings it back. */
  forgetKey(hash: string): void {
    void this.keys.remove(hash);
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
