/**
 * The flag engine: one environment's flags and segments in memory, evaluated synchronously.
 *
 * Loading a snapshot only indexes it: each key maps to the offset of its record's line, and a flag is
 * parsed and compiled the first time it is evaluated, so loading a million flags costs reading their
 * keys. Changes replace one flag at a time; a change never recompiles anything else (prerequisites and
 * segments are looked up by key when evaluated).
 */
import type { FlagRecord, FlagType, SegmentRecord } from '../document/schema.js';
import { CompiledFlag, CompiledSegment, compileFlag, compileSegment } from '../evaluation/compile.js';
import { type Context, type EvaluationScope, evaluateFlag, segmentContains } from '../evaluation/evaluate.js';
import { type EvaluationResult, errorResult } from '../evaluation/result.js';
import {
  FLAG_LINE,
  NEWLINE,
  readHeader,
  recordText,
  SEGMENT_LINE,
  type SnapshotHeader,
  TAB,
} from './snapshot.js';

/** A stored flag that could not be read or compiled: evaluating it yields `PARSE_ERROR`. */
class Unreadable {
  constructor(readonly message: string) {}
}

/** A map value: compiled, waiting as a record object, waiting as a line of the snapshot, or unreadable. */
type Slot<C, R> = C | R | number | Unreadable;

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

export class FlagEngine implements EvaluationScope {
  environment: string;
  private flags = new Map<string, Slot<CompiledFlag, FlagRecord>>();
  private segments = new Map<string, Slot<CompiledSegment, SegmentRecord>>();
  private snapshot: Buffer = Buffer.alloc(0);
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
    const flags = new Map<string, Slot<CompiledFlag, FlagRecord>>();
    const segments = new Map<string, Slot<CompiledSegment, SegmentRecord>>();
    let pos = bodyStart;
    const length = bytes.length;
    while (pos < length) {
      let end = bytes.indexOf(NEWLINE, pos);
      if (end === -1) end = length;
      const kind = bytes[pos];
      let tab = pos + 2;
      while (tab < end && bytes[tab] !== TAB) tab++;
      if (tab < end) {
        const key = bytes.toString('latin1', pos + 2, tab);
        if (kind === FLAG_LINE) flags.set(key, pos);
        else if (kind === SEGMENT_LINE) segments.set(key, pos);
      }
      pos = end + 1;
    }
    this.snapshot = bytes;
    this.header = header;
    this.environment = header.environment;
    this.flags = flags;
    this.segments = segments;
  }

  /** The header of the last snapshot loaded. */
  get snapshotHeader(): SnapshotHeader | undefined {
    return this.header;
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
    const slot = this.flags.get(key);
    if (slot instanceof CompiledFlag) return slot;
    const compiled = this.compileFlagSlot(key, slot);
    return compiled instanceof CompiledFlag ? compiled : undefined;
  }

  inSegment(key: string, context: Context): boolean {
    let slot = this.segments.get(key);
    if (!(slot instanceof CompiledSegment)) {
      if (slot === undefined || slot instanceof Unreadable) return false;
      slot = this.compileSegmentSlot(key, slot);
      if (!(slot instanceof CompiledSegment)) return false;
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
    let flag = this.flags.get(key);
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

  private compileFlagSlot(
    key: string,
    slot: Slot<CompiledFlag, FlagRecord> | undefined,
  ): CompiledFlag | Unreadable | undefined {
    if (slot === undefined || slot instanceof CompiledFlag || slot instanceof Unreadable) return slot;
    let compiled: CompiledFlag | Unreadable;
    try {
      const record: FlagRecord =
        typeof slot === 'number'
          ? { key, ...(JSON.parse(recordText(this.snapshot, slot)) as Omit<FlagRecord, 'key'>) }
          : slot;
      compiled = compileFlag(record);
    } catch (error) {
      compiled = new Unreadable(`flag "${key}" could not be read: ${(error as Error).message}`);
    }
    this.flags.set(key, compiled);
    return compiled;
  }

  private compileSegmentSlot(key: string, slot: SegmentRecord | number): CompiledSegment | Unreadable {
    let compiled: CompiledSegment | Unreadable;
    try {
      const record: SegmentRecord =
        typeof slot === 'number' ? { key, state: JSON.parse(recordText(this.snapshot, slot)) } : slot;
      compiled = compileSegment(record);
    } catch (error) {
      compiled = new Unreadable(`segment "${key}" could not be read: ${(error as Error).message}`);
    }
    this.segments.set(key, compiled);
    return compiled;
  }
}
