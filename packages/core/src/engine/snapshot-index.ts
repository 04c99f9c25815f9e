/**
 * An index of a snapshot's records by key that allocates nothing per record: an open-addressing hash
 * table of line offsets (and key hashes) in typed arrays, over the snapshot's bytes. A million flags
 * cost about 16 MiB of index instead of a million key strings in a `Map`, and loading them is two passes
 * over the bytes (count, then index), for flags and segments together.
 *
 * Keys are compared as bytes: flag and segment keys are ASCII by the naming rules; a key with other
 * characters is looked up through its UTF-8 bytes.
 */
import { FLAG_LINE, NEWLINE, SEGMENT_LINE, TAB } from './snapshot.js';

const EMPTY = -1;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false;
  return true;
}

export class SnapshotIndex {
  /** Line offsets, or EMPTY. */
  private readonly offsets: Int32Array;
  private readonly hashes: Uint32Array;
  private readonly mask: number;
  private count = 0;

  private constructor(
    readonly bytes: Buffer,
    lines: number,
  ) {
    let capacity = 16;
    while (capacity < lines * 1.5) capacity *= 2;
    this.offsets = new Int32Array(capacity).fill(EMPTY);
    this.hashes = new Uint32Array(capacity);
    this.mask = capacity - 1;
  }

  /**
   * Indexes the flag lines (`F <key>\t…`) and the segment lines (`S <key>\t…`) of `bytes` from
   * `bodyStart`, in two passes over the bytes: one to count them, one to index them. A key that appears
   * twice keeps its last line.
   */
  static of(bytes: Buffer, bodyStart: number): { flags: SnapshotIndex; segments: SnapshotIndex } {
    let flagLines = 0;
    let segmentLines = 0;
    for (let pos = bodyStart; pos < bytes.length; ) {
      const end = bytes.indexOf(NEWLINE, pos);
      if (bytes[pos] === FLAG_LINE) flagLines++;
      else if (bytes[pos] === SEGMENT_LINE) segmentLines++;
      if (end === -1) break;
      pos = end + 1;
    }
    const flags = new SnapshotIndex(bytes, flagLines);
    const segments = new SnapshotIndex(bytes, segmentLines);
    for (let pos = bodyStart; pos < bytes.length; ) {
      let end = bytes.indexOf(NEWLINE, pos);
      if (end === -1) end = bytes.length;
      const kind = bytes[pos];
      if ((kind === FLAG_LINE || kind === SEGMENT_LINE) && bytes[pos + 1] === 0x20) {
        // perf: the key's hash is taken while looking for its tab, in the one pass over the line.
        let h = FNV_OFFSET;
        let tab = pos + 2;
        while (tab < end && bytes[tab] !== TAB) {
          h = Math.imul(h ^ bytes[tab]!, FNV_PRIME);
          tab++;
        }
        if (tab < end) (kind === FLAG_LINE ? flags : segments).insert(h >>> 0, pos, tab - pos - 2);
      }
      pos = end + 1;
    }
    return { flags, segments };
  }

  get size(): number {
    return this.count;
  }

  private insert(hash: number, offset: number, keyLength: number): void {
    let slot = hash & this.mask;
    for (;;) {
      const existing = this.offsets[slot]!;
      if (existing === EMPTY) {
        this.offsets[slot] = offset;
        this.hashes[slot] = hash;
        this.count++;
        return;
      }
      if (this.hashes[slot] === hash && this.sameKeyAt(existing, this.bytes, offset + 2, keyLength)) {
        this.offsets[slot] = offset;
        return;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Whether the line at `offset` has the key held in `source[start, start + length)`. */
  private sameKeyAt(offset: number, source: Uint8Array, start: number, length: number): boolean {
    const bytes = this.bytes;
    const keyStart = offset + 2;
    if (bytes[keyStart + length] !== TAB) return false;
    for (let i = 0; i < length; i++) if (bytes[keyStart + i] !== source[start + i]) return false;
    return true;
  }

  /** The offset of the line of `key`, or -1. */
  offsetOf(key: string): number {
    if (!isAscii(key)) {
      const encoded = Buffer.from(key, 'utf8');
      let h = FNV_OFFSET;
      for (let i = 0; i < encoded.length; i++) h = Math.imul(h ^ encoded[i]!, FNV_PRIME);
      return this.find(h >>> 0, encoded, 0, encoded.length);
    }
    let h = FNV_OFFSET;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
    const hash = h >>> 0;
    let slot = hash & this.mask;
    const bytes = this.bytes;
    for (;;) {
      const offset = this.offsets[slot]!;
      if (offset === EMPTY) return -1;
      if (this.hashes[slot] === hash && bytes[offset + 2 + key.length] === TAB) {
        let same = true;
        for (let i = 0; i < key.length; i++) {
          if (bytes[offset + 2 + i] !== key.charCodeAt(i)) {
            same = false;
            break;
          }
        }
        if (same) return offset;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  private find(hash: number, source: Uint8Array, start: number, length: number): number {
    let slot = hash & this.mask;
    for (;;) {
      const offset = this.offsets[slot]!;
      if (offset === EMPTY) return -1;
      if (this.hashes[slot] === hash && this.sameKeyAt(offset, source, start, length)) return offset;
      slot = (slot + 1) & this.mask;
    }
  }

  has(key: string): boolean {
    return this.offsetOf(key) !== -1;
  }

  /** The key of the line at `offset`. */
  keyAt(offset: number): string {
    let tab = offset + 2;
    while (this.bytes[tab] !== TAB) tab++;
    return this.bytes.toString('utf8', offset + 2, tab);
  }

  /** The whole line at `offset`, without its newline. */
  lineAt(offset: number): string {
    let end = this.bytes.indexOf(NEWLINE, offset);
    if (end === -1) end = this.bytes.length;
    return this.bytes.toString('utf8', offset, end);
  }

  /** Offsets of every indexed line, in no particular order. */
  *offsetsOf(): IterableIterator<number> {
    for (let slot = 0; slot < this.offsets.length; slot++) {
      const offset = this.offsets[slot]!;
      if (offset !== EMPTY) yield offset;
    }
  }

  *keys(): IterableIterator<string> {
    for (const offset of this.offsetsOf()) yield this.keyAt(offset);
  }
}
