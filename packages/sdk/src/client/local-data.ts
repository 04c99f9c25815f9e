/**
 * The data a client holds: one environment's flags and segments in a `FlagEngine`, and the positions
 * they are at. The engine indexes the last snapshot's bytes (no object per record); the lines that
 * patches changed since are kept beside it, so a snapshot of some namespaces can replace just those,
 * changes can be named, and the whole can be written back in the snapshot format.
 *
 * perf: a million flags cost the snapshot's bytes and a typed-array index. The first complete snapshot
 * is loaded as it came, without copying or comparing it; when the lines patched since grow past a
 * quarter of the snapshot, they are folded into a new one.
 */
import {
  FLAG_LINE,
  FlagEngine,
  type FlagRecord,
  headerLine,
  readHeader,
  recordOf,
  SEGMENT_LINE,
  type SegmentRecord,
  type SnapshotHeader,
  type SnapshotIndex,
  scanRecordLines,
} from '@switchyard/core';
import type { Positions } from '../feed/positions.js';
import { namespaceOf, type RecordChange } from '../feed/records.js';

const NEWLINE = 0x0a;
/** Patched lines that are folded into a new snapshot at the least. */
const MIN_FOLD = 10_000;

/**
 * The flags and segments whose records changed (added, replaced by a different record, or removed).
 * `all`: every record may have changed (the first data, or a snapshot replacing all of it), and the
 * lists are then empty rather than naming every key.
 */
export interface Changed {
  readonly flags: readonly string[];
  readonly segments: readonly string[];
  readonly all?: true;
}

/** What `replace` takes: a snapshot and which of its namespaces to apply (see `SnapshotEvent`). */
export interface SnapshotData {
  readonly bytes: Buffer;
  readonly header: SnapshotHeader;
  /** Where the record lines start in `bytes`. */
  readonly bodyStart: number;
  readonly positions: Positions;
  readonly namespaces: readonly string[];
  readonly complete: boolean;
}

export interface PatchData {
  readonly namespace: string;
  readonly seq: number;
  readonly changes: readonly RecordChange[];
}

/** Collects bytes in large blocks, so that a million lines make a few allocations, not a million. */
class BlockWriter {
  private readonly blocks: Buffer[] = [];
  private block = Buffer.allocUnsafe(1 << 20);
  private at = 0;

  write(source: Buffer, start = 0, end = source.length): void {
    let from = start;
    while (from < end) {
      if (this.at === this.block.length) this.next();
      const n = Math.min(end - from, this.block.length - this.at);
      source.copy(this.block, this.at, from, from + n);
      this.at += n;
      from += n;
    }
  }

  /** Writes `text` and a newline; straight into the block when both fit, with no buffer between. */
  line(text: string): void {
    const length = Buffer.byteLength(text, 'utf8');
    if (length + 1 <= this.block.length - this.at) {
      this.block.write(text, this.at, 'utf8');
      this.at += length;
      this.block[this.at++] = NEWLINE;
      return;
    }
    this.write(Buffer.from(text, 'utf8'));
    this.write(NEWLINE_BYTE);
  }

  private next(): void {
    this.blocks.push(this.block);
    this.block = Buffer.allocUnsafe(1 << 20);
    this.at = 0;
  }

  finish(): Buffer {
    return Buffer.concat([...this.blocks, this.block.subarray(0, this.at)]);
  }
}

const NEWLINE_BYTE = Buffer.of(NEWLINE);

export class LocalData {
  readonly engine: FlagEngine;
  /** Lines patched since the engine's snapshot was loaded: the line, or null once removed. */
  private flagLines = new Map<string, string | null>();
  private segmentLines = new Map<string, string | null>();
  private held: Record<string, number> = {};

  constructor(options: { environment?: string; clock?: () => number } = {}) {
    this.engine = new FlagEngine(options);
  }

  /** True once a snapshot was applied: from then on the data is the truth, even if it holds no flags. */
  get hasData(): boolean {
    return this.engine.snapshotHeader !== undefined;
  }

  get positions(): Positions {
    return { ...this.held };
  }

  /**
   * Replaces the records of the snapshot's `namespaces` (and, for a complete snapshot, drops the
   * namespaces its header does not name) and reloads the engine, which recompiles flags lazily.
   */
  replace(snapshot: SnapshotData): Changed {
    const { bytes, bodyStart, complete } = snapshot;
    const named = Object.keys(snapshot.positions);
    const whole = complete && snapshot.namespaces.length === named.length;
    if (whole && !this.hasData) {
      // perf: the first data, whole: the bytes are loaded as they came.
      this.load(bytes);
      this.held = { ...snapshot.positions };
      return { flags: [], segments: [], all: true };
    }

    const applied = new Set(snapshot.namespaces);
    const namedSet = new Set(named);
    const fromNew = (ns: string) => applied.has(ns) || (complete && !namedSet.has(ns));
    const positions: Record<string, number> = {};
    for (const [ns, seq] of Object.entries(this.held)) {
      if (!complete || namedSet.has(ns)) positions[ns] = seq;
    }
    for (const ns of applied) positions[ns] = snapshot.positions[ns]!;

    const out = new BlockWriter();
    out.line(headerLine({ ...snapshot.header, namespaces: positions }));
    const changedFlags: string[] = [];
    const changedSegments: string[] = [];
    const seen = { flags: new Set<string>(), segments: new Set<string>() };
    /** What was held in the replaced namespaces: [kind, key], in the order of `lines()`. */
    const replaced: [number, string][] = [];
    // The lines kept from what is held.
    for (const [kind, key, line] of this.lines()) {
      if (fromNew(namespaceOf(key))) {
        replaced.push([kind, key]);
        continue;
      }
      out.line(line);
    }
    // The snapshot's lines for the namespaces it replaces, compared with what was held.
    scanRecordLines(bytes, bodyStart, (kind, key, start, end) => {
      if (!fromNew(namespaceOf(key))) return;
      out.write(bytes, start, end);
      out.write(NEWLINE_BYTE);
      const isFlag = kind === FLAG_LINE;
      (isFlag ? seen.flags : seen.segments).add(key);
      const before = this.currentLine(isFlag, key);
      if (before === undefined || before !== bytes.toString('utf8', start, end)) {
        (isFlag ? changedFlags : changedSegments).push(key);
      }
    });
    // What was held in the replaced namespaces and is gone.
    for (const [kind, key] of replaced) {
      const isFlag = kind === FLAG_LINE;
      if (!(isFlag ? seen.flags : seen.segments).has(key))
        (isFlag ? changedFlags : changedSegments).push(key);
    }
    this.load(out.finish());
    this.held = positions;
    return { flags: changedFlags, segments: changedSegments };
  }

  /**
   * Applies a patch: every put and remove, then its position. The records are all parsed before any is
   * applied, so a patch with a bad record changes nothing (and throws).
   */
  applyPatch(patch: PatchData): Changed {
    const parsed: { change: RecordChange; record: FlagRecord | SegmentRecord | undefined }[] = [];
    for (const change of patch.changes) {
      if (change.op === 'remove') {
        parsed.push({ change, record: undefined });
        continue;
      }
      parsed.push({ change, record: recordOf(change) });
    }
    const flags: string[] = [];
    const segments: string[] = [];
    for (const { change, record } of parsed) {
      const isFlag = change.kind === 'flag';
      const lines = isFlag ? this.flagLines : this.segmentLines;
      const before = this.currentLine(isFlag, change.key);
      if (record === undefined) {
        if (before === undefined) continue;
        lines.set(change.key, null);
        if (isFlag) this.engine.deleteFlag(change.key);
        else this.engine.deleteSegment(change.key);
      } else {
        if (before === change.line) continue;
        lines.set(change.key, change.line);
        if (isFlag) this.engine.setFlag(record as FlagRecord);
        else this.engine.setSegment(record as SegmentRecord);
      }
      (isFlag ? flags : segments).push(change.key);
    }
    this.held[patch.namespace] = patch.seq;
    const base = (this.engine.snapshotFlags?.size ?? 0) + (this.engine.snapshotSegments?.size ?? 0);
    if (this.flagLines.size + this.segmentLines.size > Math.max(MIN_FOLD, base / 4)) this.fold();
    return { flags, segments };
  }

  /**
   * Everything held, in the snapshot format, its header carrying the positions and `extra` fields, as
   * parts to write one after the other (the snapshot's own bytes are not copied when nothing changed).
   */
  encode(extra: Record<string, unknown> = {}): Buffer[] {
    const header = Buffer.from(`${this.headerLine(extra)}\n`, 'utf8');
    const index = this.engine.snapshotFlags;
    if (index !== undefined && this.flagLines.size === 0 && this.segmentLines.size === 0) {
      return [header, index.bytes.subarray(readHeader(index.bytes).bodyStart)];
    }
    const out = new BlockWriter();
    for (const [, , line] of this.lines()) out.line(line);
    return [header, out.finish()];
  }

  /** The header line (without its newline) of what `encode` writes. */
  private headerLine(extra: Record<string, unknown>): string {
    return headerLine({
      environment: this.engine.environment,
      namespaces: this.held,
      time: new Date().toISOString(),
      ...extra,
    });
  }

  /** The current line of a record; undefined when it is not held. */
  private currentLine(isFlag: boolean, key: string): string | undefined {
    const patched = (isFlag ? this.flagLines : this.segmentLines).get(key);
    if (patched !== undefined) return patched ?? undefined;
    const index = isFlag ? this.engine.snapshotFlags : this.engine.snapshotSegments;
    const offset = index?.offsetOf(key) ?? -1;
    return offset === -1 ? undefined : index!.lineAt(offset);
  }

  /** Every record held: [kind, key, line], segments first. */
  private *lines(): Generator<[number, string, string]> {
    for (const [kind, index, patched] of [
      [SEGMENT_LINE, this.engine.snapshotSegments, this.segmentLines],
      [FLAG_LINE, this.engine.snapshotFlags, this.flagLines],
    ] as [number, SnapshotIndex | undefined, Map<string, string | null>][]) {
      if (index !== undefined) {
        for (const offset of index.offsetsOf()) {
          const key = index.keyAt(offset);
          if (!patched.has(key)) yield [kind, key, index.lineAt(offset)];
        }
      }
      for (const [key, line] of patched) if (line !== null) yield [kind, key, line];
    }
  }

  /** Folds the patched lines into a new snapshot, so they stop growing. */
  private fold(): void {
    // What `encode` writes, as one buffer: the header goes first into the same writer.
    const out = new BlockWriter();
    out.line(this.headerLine({}));
    for (const [, , line] of this.lines()) out.line(line);
    this.load(out.finish());
  }

  private load(bytes: Buffer): void {
    this.engine.loadSnapshot(bytes);
    this.flagLines = new Map();
    this.segmentLines = new Map();
  }
}
