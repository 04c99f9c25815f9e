/**
 * The data a client holds: one environment's flags and segments in a `FlagEngine`, the positions they
 * are at, and each record's line, so that a snapshot of some namespaces can replace just those, changes
 * can be named, and the whole can be written back in the snapshot format.
 */
import {
  FlagEngine,
  type FlagRecord,
  readHeader,
  type SegmentRecord,
  type SnapshotHeader,
} from '@switchyard/core';
import type { Positions } from '../feed/positions.js';
import { namespaceOf, type RecordChange } from '../feed/records.js';

const MAGIC = '#switchyard-snapshot 1 ';
const NEWLINE = 0x0a;
const TAB = 0x09;
const FLAG = 0x46; // 'F'
const SEGMENT = 0x53; // 'S'

/** The flags and segments whose records changed (added, replaced by a different record, or removed). */
export interface Changed {
  readonly flags: readonly string[];
  readonly segments: readonly string[];
}

/** What `replace` takes: a snapshot and which of its namespaces to apply (see `SnapshotEvent`). */
export interface SnapshotData {
  readonly bytes: Buffer;
  readonly header: SnapshotHeader;
  readonly positions: Positions;
  readonly namespaces: readonly string[];
  readonly complete: boolean;
}

export interface PatchData {
  readonly namespace: string;
  readonly seq: number;
  readonly changes: readonly RecordChange[];
}

/** A record's line: its offset in the loaded snapshot, or the line's text when a patch brought it. */
type Line = number | string;

/** Calls `each` for every record line of a snapshot body: its kind byte, key, and start and end offsets. */
function scanRecords(
  bytes: Buffer,
  start: number,
  each: (kind: number, key: string, lineStart: number, lineEnd: number) => void,
): void {
  let pos = start;
  while (pos < bytes.length) {
    let end = bytes.indexOf(NEWLINE, pos);
    if (end === -1) end = bytes.length;
    const kind = bytes[pos];
    if ((kind === FLAG || kind === SEGMENT) && bytes[pos + 1] === 0x20) {
      const tab = bytes.indexOf(TAB, pos + 2);
      if (tab !== -1 && tab < end) each(kind, bytes.toString('utf8', pos + 2, tab), pos, end);
    }
    pos = end + 1;
  }
}

export class LocalData {
  readonly engine: FlagEngine;
  private buffer: Buffer = Buffer.alloc(0);
  private flags = new Map<string, Line>();
  private segments = new Map<string, Line>();
  private held: Record<string, number> = {};
  private loaded = false;

  constructor(options: { environment?: string; clock?: () => number } = {}) {
    this.engine = new FlagEngine(options);
  }

  /** True once a snapshot was applied: from then on the data is the truth, even if it holds no flags. */
  get hasData(): boolean {
    return this.loaded;
  }

  get positions(): Positions {
    return { ...this.held };
  }

  get environment(): string {
    return this.engine.environment;
  }

  /**
   * Replaces the records of the snapshot's `namespaces` (and, for a complete snapshot, drops the
   * namespaces its header does not name) and reloads the engine, which recompiles flags lazily.
   */
  replace(snapshot: SnapshotData): Changed {
    const { bytes, complete } = snapshot;
    const applied = new Set(snapshot.namespaces);
    const named = new Set(Object.keys(snapshot.positions));
    // A namespace's records come from the new snapshot when it is applied, or when a complete snapshot
    // does not name it (a namespace without a position); otherwise they are kept.
    const fromNew = (ns: string) => applied.has(ns) || (complete && !named.has(ns));

    const parts: Buffer[] = [];
    const next = { flags: new Map<string, Buffer>(), segments: new Map<string, Buffer>() };
    const keep = (map: Map<string, Line>, into: Map<string, Buffer>) => {
      for (const [key, line] of map) {
        if (!fromNew(namespaceOf(key))) into.set(key, this.lineBytes(line));
      }
    };
    keep(this.flags, next.flags);
    keep(this.segments, next.segments);
    scanRecords(bytes, readHeader(bytes).bodyStart, (kind, key, start, end) => {
      if (fromNew(namespaceOf(key))) {
        (kind === FLAG ? next.flags : next.segments).set(key, bytes.subarray(start, end));
      }
    });

    const changed: Changed = {
      flags: this.diff(this.flags, next.flags),
      segments: this.diff(this.segments, next.segments),
    };

    const positions: Record<string, number> = {};
    for (const [ns, seq] of Object.entries(this.held)) {
      if (!complete || named.has(ns)) positions[ns] = seq;
    }
    for (const ns of applied) positions[ns] = snapshot.positions[ns]!;

    const header = { ...snapshot.header, namespaces: positions };
    parts.push(Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8'));
    for (const line of next.segments.values()) parts.push(line, Buffer.of(NEWLINE));
    for (const line of next.flags.values()) parts.push(line, Buffer.of(NEWLINE));
    this.load(Buffer.concat(parts));
    this.held = positions;
    return changed;
  }

  /**
   * Applies a patch: every put and remove, then its position. The records are all parsed before any is
   * applied, so a patch with a bad record changes nothing (and throws).
   */
  applyPatch(patch: PatchData): Changed {
    const parsed: (
      | { change: RecordChange; record: FlagRecord | SegmentRecord }
      | { change: RecordChange; record: undefined }
    )[] = [];
    for (const change of patch.changes) {
      if (change.op === 'remove') {
        parsed.push({ change, record: undefined });
        continue;
      }
      const value = JSON.parse(change.json) as Record<string, unknown>;
      const record =
        change.kind === 'flag'
          ? ({ key: change.key, ...value } as unknown as FlagRecord)
          : ({ key: change.key, state: value } as unknown as SegmentRecord);
      parsed.push({ change, record });
    }
    const flags: string[] = [];
    const segments: string[] = [];
    for (const { change, record } of parsed) {
      const isFlag = change.kind === 'flag';
      const map = isFlag ? this.flags : this.segments;
      const before = map.get(change.key);
      if (record === undefined) {
        if (before === undefined) continue;
        map.delete(change.key);
        if (isFlag) this.engine.deleteFlag(change.key);
        else this.engine.deleteSegment(change.key);
      } else {
        if (before !== undefined && this.lineText(before) === change.line) continue;
        map.set(change.key, change.line);
        if (isFlag) this.engine.setFlag(record as FlagRecord);
        else this.engine.setSegment(record as SegmentRecord);
      }
      (isFlag ? flags : segments).push(change.key);
    }
    this.held[patch.namespace] = patch.seq;
    return { flags, segments };
  }

  /** Everything held, in the snapshot format, its header carrying the positions and `extra` fields. */
  encode(extra: Record<string, unknown> = {}): Buffer {
    const header = {
      environment: this.engine.environment,
      namespaces: this.held,
      time: new Date().toISOString(),
      ...extra,
    };
    const parts: Buffer[] = [Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8')];
    for (const line of this.segments.values()) parts.push(this.lineBytes(line), Buffer.of(NEWLINE));
    for (const line of this.flags.values()) parts.push(this.lineBytes(line), Buffer.of(NEWLINE));
    return Buffer.concat(parts);
  }

  private load(bytes: Buffer): void {
    this.engine.loadSnapshot(bytes);
    const flags = new Map<string, Line>();
    const segments = new Map<string, Line>();
    scanRecords(bytes, readHeader(bytes).bodyStart, (kind, key, start) => {
      (kind === FLAG ? flags : segments).set(key, start);
    });
    this.buffer = bytes;
    this.flags = flags;
    this.segments = segments;
    this.loaded = true;
  }

  private lineBytes(line: Line): Buffer {
    if (typeof line === 'string') return Buffer.from(line, 'utf8');
    let end = this.buffer.indexOf(NEWLINE, line);
    if (end === -1) end = this.buffer.length;
    return this.buffer.subarray(line, end);
  }

  private lineText(line: Line): string {
    return typeof line === 'string' ? line : this.lineBytes(line).toString('utf8');
  }

  private diff(before: Map<string, Line>, after: Map<string, Buffer>): string[] {
    const out: string[] = [];
    for (const [key, line] of after) {
      const old = before.get(key);
      if (old === undefined || !this.lineBytes(old).equals(line)) out.push(key);
    }
    for (const key of before.keys()) if (!after.has(key)) out.push(key);
    return out;
  }
}
