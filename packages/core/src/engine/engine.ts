/**
 * The flag engine: one environment's flags and segments in memory, evaluated synchronously.
 *
 * Loading a snapshot only indexes it (`SnapshotIndex`: line offsets in typed arrays, no object per
 * record), and a flag is parsed and compiled the first time it is evaluated, so loading a million flags
 * costs two passes over their bytes. Changes replace one flag at a time; a change never recompiles
 * anything else (prerequisites and segments are looked up by key when evaluated).
 */
import type { FlagRecord, FlagType, SegmentRecord } from '../document/schema.js';
import { CompiledFlag, CompiledSegment, compileFlag, compileSegment } from '../evaluation/compile.js';
import { type Context, type EvaluationScope, evaluateFlag, segmentContains } from '../evaluation/evaluate.js';
import { type EvaluationResult, errorResult } from '../evaluation/result.js';
import { readHeader, recordText, type SnapshotHeader } from './snapshot.js';
import { SnapshotIndex } from './snapshot-index.js';

/** A stored flag that could not be read or compiled: evaluating it yields `PARSE_ERROR`. */
class Unreadable {
  constructor(readonly message: string) {}
}

/** A record removed since the snapshot was loaded (the snapshot's line no longer counts). */
const REMOVED = Symbol('removed');

/**
 * An overlay value, over the snapshot's index: compiled, waiting as a record object (set since),
 * unreadable, or removed. Keys without one are read from the snapshot on first use.
 */
type Slot<C, R> = C | R | Unreadable | typeof REMOVED;

export interface EngineOptions {
  /** The environment the engine's data belongs to. */
  environment?: string;
  /** Epoch milliseconds, read only for flags whose value depends on time. Defaults to `Date.now`. */
  clock?: () => number;
  /**
   * Where prerequisites and segments are looked up; defaults to this engine. Lets engines that each hold
   * some namespaces of an environment evaluate as one.
   */
  scope?: EvaluationScope;
}

/** A snapshot's records of one kind, and what changed since: an index over bytes plus an overlay. */
class Records<C, R> {
  /** Compiled, set, unreadable or removed records, by key. */
  readonly overlay = new Map<string, Slot<C, R>>();
  private count: number;

  constructor(readonly index: SnapshotIndex | undefined) {
    this.count = index?.size ?? 0;
  }

  get size(): number {
    return this.count;
  }

  has(key: string): boolean {
    const slot = this.overlay.get(key);
    if (slot !== undefined) return slot !== REMOVED;
    return this.index?.has(key) === true;
  }

  set(key: string, value: Slot<C, R>): void {
    if (!this.has(key)) this.count++;
    this.overlay.set(key, value);
  }

  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.count--;
    if (this.index?.has(key)) this.overlay.set(key, REMOVED);
    else this.overlay.delete(key);
    return true;
  }

  /** The record's JSON text from the snapshot, when it is neither in the overlay nor absent. */
  snapshotText(key: string): string | undefined {
    const offset = this.index?.offsetOf(key) ?? -1;
    return offset === -1 ? undefined : recordText(this.index!.bytes, offset);
  }

  *keys(): IterableIterator<string> {
    if (this.index !== undefined) {
      for (const key of this.index.keys()) if (!this.overlay.has(key)) yield key;
    }
    for (const [key, slot] of this.overlay) if (slot !== REMOVED) yield key;
  }
}

export class FlagEngine implements EvaluationScope {
  environment: string;
  private flags = new Records<CompiledFlag, FlagRecord>(undefined);
  private segments = new Records<CompiledSegment, SegmentRecord>(undefined);
  private header: SnapshotHeader | undefined;
  private readonly clock: () => number;
  private readonly scope: EvaluationScope;

  constructor(options: EngineOptions = {}) {
    this.environment = options.environment ?? '';
    this.clock = options.clock ?? Date.now;
    this.scope = options.scope ?? this;
  }

  /** An engine holding a snapshot's data. Throws `SnapshotFormatError` on bytes that are not one. */
  static fromSnapshot(bytes: Buffer, options: EngineOptions = {}): FlagEngine {
    const engine = new FlagEngine(options);
    engine.loadSnapshot(bytes);
    return engine;
  }

  /**
   * Replaces all data with a snapshot's. Only indexes keys; records are parsed on first use. The
   * engine keeps a reference to `bytes`, which must not change afterwards.
   */
  loadSnapshot(bytes: Buffer): void {
    const { header, bodyStart } = readHeader(bytes);
    const { flags, segments } = SnapshotIndex.of(bytes, bodyStart);
    this.flags = new Records(flags);
    this.segments = new Records(segments);
    this.header = header;
    this.environment = header.environment;
  }

  /** The header of the last snapshot loaded. */
  get snapshotHeader(): SnapshotHeader | undefined {
    return this.header;
  }

  /** The index of the last snapshot's flag lines (for readers of its raw lines, such as an SDK's cache). */
  get snapshotFlags(): SnapshotIndex | undefined {
    return this.flags.index;
  }

  /** The index of the last snapshot's segment lines. */
  get snapshotSegments(): SnapshotIndex | undefined {
    return this.segments.index;
  }

  /** Adds or replaces a flag; it is compiled when first evaluated. */
  setFlag(record: FlagRecord): void {
    this.flags.set(record.key, record);
  }

  deleteFlag(key: string): boolean {
    return this.flags.delete(key);
  }

  setSegment(record: SegmentRecord): void {
    this.segments.set(record.key, record);
  }

  deleteSegment(key: string): boolean {
    return this.segments.delete(key);
  }

  get size(): number {
    return this.flags.size;
  }

  hasFlag(key: string): boolean {
    return this.flags.has(key);
  }

  flagKeys(): IterableIterator<string> {
    return this.flags.keys();
  }

  /** The compiled flag, compiling it on first use; undefined when absent or unreadable. */
  flag(key: string): CompiledFlag | undefined {
    const slot = this.flags.overlay.get(key);
    if (slot instanceof CompiledFlag) return slot;
    const compiled = this.compileFlagSlot(key, slot);
    return compiled instanceof CompiledFlag ? compiled : undefined;
  }

  inSegment(key: string, context: Context): boolean {
    let slot = this.segments.overlay.get(key);
    if (!(slot instanceof CompiledSegment)) {
      if (slot instanceof Unreadable || slot === REMOVED) return false;
      const compiled = this.compileSegmentSlot(key, slot);
      if (!(compiled instanceof CompiledSegment)) return false;
      slot = compiled;
    }
    return segmentContains(slot, context, this.scope);
  }

  /**
   * Evaluates flag `key` as a `type` for `context`. Never throws: a missing flag, a type mismatch or an
   * unreadable record gives an error result carrying `defaultValue`. `now` defaults to the clock, which
   * is read only when the flag's value can depend on time.
   */
  evaluate<T>(
    key: string,
    type: FlagType,
    context: Context,
    defaultValue: T,
    now?: number,
  ): EvaluationResult<T> {
    // perf: the warm path is one Map lookup of the overlay, where compiled flags live.
    let flag: Slot<CompiledFlag, FlagRecord> | undefined = this.flags.overlay.get(key);
    if (!(flag instanceof CompiledFlag)) {
      flag = this.compileFlagSlot(key, flag);
      if (!(flag instanceof CompiledFlag)) {
        return flag === undefined
          ? errorResult(defaultValue, 'FLAG_NOT_FOUND', `flag "${key}" does not exist in this environment`, 0)
          : errorResult(defaultValue, 'PARSE_ERROR', (flag as Unreadable).message, 0);
      }
    }
    if (flag.type !== type) {
      return errorResult(
        defaultValue,
        'TYPE_MISMATCH',
        `flag "${key}" is a ${flag.type} flag, not ${type}`,
        flag.version,
      );
    }
    const at = flag.timeDependent ? (now ?? this.clock()) : 0;
    const result = evaluateFlag(flag, context, at, this.scope);
    if (result.errorCode === undefined) return result as EvaluationResult<T>;
    return errorResult(defaultValue, result.errorCode, result.errorMessage ?? result.errorCode, flag.version);
  }

  /** Compiles a flag from its overlay record, or from its snapshot line when it has none. */
  private compileFlagSlot(
    key: string,
    slot: Slot<CompiledFlag, FlagRecord> | undefined,
  ): CompiledFlag | Unreadable | undefined {
    if (slot === REMOVED) return undefined;
    if (slot instanceof CompiledFlag || slot instanceof Unreadable) return slot;
    let record: FlagRecord | undefined = slot;
    let compiled: CompiledFlag | Unreadable;
    try {
      if (record === undefined) {
        const text = this.flags.snapshotText(key);
        if (text === undefined) return undefined;
        record = { key, ...(JSON.parse(text) as Omit<FlagRecord, 'key'>) };
      }
      compiled = compileFlag(record);
    } catch (error) {
      compiled = new Unreadable(`flag "${key}" could not be read: ${(error as Error).message}`);
    }
    this.flags.overlay.set(key, compiled);
    return compiled;
  }

  private compileSegmentSlot(
    key: string,
    slot: SegmentRecord | undefined,
  ): CompiledSegment | Unreadable | undefined {
    let compiled: CompiledSegment | Unreadable;
    try {
      let record = slot;
      if (record === undefined) {
        const text = this.segments.snapshotText(key);
        if (text === undefined) return undefined;
        record = { key, state: JSON.parse(text) };
      }
      compiled = compileSegment(record);
    } catch (error) {
      compiled = new Unreadable(`segment "${key}" could not be read: ${(error as Error).message}`);
    }
    this.segments.overlay.set(key, compiled);
    return compiled;
  }
}
