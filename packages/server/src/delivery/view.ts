/**
 * One namespace of one environment as delivery serves it: its records as snapshot lines, kept in
 * chunks of encoded bytes, so that serving a snapshot is a copy of chunks and a change re-encodes only
 * the chunk its key hashes to. `seq` is the ledger position the data reflects (at least).
 */
import {
  FlagEngine,
  type FlagRecord,
  headerLine,
  isSensitiveFlagLine,
  lineIdentity,
  parseRecordLine,
  recordOf,
  type SegmentRecord,
} from '@switchyard/core';

/** A record line's identity: `F <key>` or `S <key>`. */
export type Identity = string;

const NEWLINE = 0x0a;
/** Lines per chunk the view aims for; it doubles its chunks when they grow past four times that. */
const TARGET_LINES = 512;
/** Changes to one chunk beyond which it is re-encoded whole rather than spliced. */
const SPLICE_LIMIT = 4;

function hashOf(identity: string): number {
  // FNV-1a over UTF-16 code units: only spreads keys over chunks, so it need not match any spec.
  let h = 0x811c9dc5;
  for (let i = 0; i < identity.length; i++) h = Math.imul(h ^ identity.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function chunkCountFor(size: number): number {
  let count = 1;
  while (count * TARGET_LINES < size) count *= 2;
  return count;
}

export class NamespaceView {
  seq: number;
  /** Epoch ms of the last change applied (0 for none since loading). */
  committedAt = 0;
  private chunks: Buffer[];
  private size = 0;
  private engineCache: ViewEngine | undefined;
  /** Keys of the flags whose values are sensitive (see `isSensitiveFlagLine`). */
  private readonly sensitive = new Set<string>();

  constructor(
    readonly namespace: string,
    readonly environment: string,
    seq: number,
    lines: readonly string[],
  ) {
    this.seq = seq;
    this.chunks = this.distribute(lines, chunkCountFor(lines.length));
    this.size = lines.length;
    for (const line of lines) this.noteSensitive(line);
  }

  /** Whether a flag's values are sensitive (only readers allowed them may receive them). */
  isSensitive(flagKey: string): boolean {
    return this.sensitive.size > 0 && this.sensitive.has(flagKey);
  }

  private noteSensitive(line: string): void {
    if (line.charCodeAt(0) === 0x46) {
      const key = lineIdentity(line).slice(2);
      if (isSensitiveFlagLine(line)) this.sensitive.add(key);
      else this.sensitive.delete(key);
    } else if (line.startsWith('-F ')) this.sensitive.delete(line.slice(3));
  }

  get records(): number {
    return this.size;
  }

  private distribute(lines: readonly string[], count: number): Buffer[] {
    const parts: string[][] = Array.from({ length: count }, () => []);
    for (const line of lines) parts[hashOf(lineIdentity(line)) & (count - 1)]!.push(line);
    return parts.map((p) => Buffer.from(p.length === 0 ? '' : `${p.join('\n')}\n`, 'utf8'));
  }

  /**
   * The encoded lines, each ending in `\n`, in no particular order; without the lines of flags whose
   * values are sensitive unless `withSensitive` (for readers not allowed them).
   */
  body(withSensitive = true): readonly Buffer[] {
    if (withSensitive || this.sensitive.size === 0) return this.chunks;
    return this.chunks.map((chunk) => {
      const text = chunk.toString('utf8');
      if (text.length === 0) return chunk;
      const kept = text
        .slice(0, -1)
        .split('\n')
        .filter((line) => !isSensitiveFlagLine(line));
      return Buffer.from(kept.length === 0 ? '' : `${kept.join('\n')}\n`, 'utf8');
    });
  }

  /** The current line of a record, or undefined when the view does not hold it. */
  line(identity: Identity): string | undefined {
    const chunk = this.chunks[hashOf(identity) & (this.chunks.length - 1)]!;
    const at = findLine(chunk, identity);
    return at === undefined ? undefined : chunk.toString('utf8', at[0], at[1] - 1);
  }

  /**
   * Applies record lines (upserts `F key\t…`, removals `-F key`) and moves to `seq`, keeping the engine,
   * if one was built, in step.
   */
  apply(seq: number, committedAt: number, lines: readonly string[]): void {
    const byChunk = new Map<number, string[]>();
    const mask = this.chunks.length - 1;
    for (const line of lines) {
      const index = hashOf(lineIdentity(line)) & mask;
      const list = byChunk.get(index);
      if (list === undefined) byChunk.set(index, [line]);
      else list.push(line);
    }
    for (const [index, changes] of byChunk) {
      this.chunks[index] =
        changes.length <= SPLICE_LIMIT
          ? this.splice(this.chunks[index]!, changes)
          : this.rebuild(index, changes);
    }
    for (const line of lines) this.noteSensitive(line);
    this.seq = seq;
    if (committedAt > 0) this.committedAt = committedAt;
    this.engineCache?.applyLines(lines);
    if (this.size > this.chunks.length * TARGET_LINES * 4) this.grow();
  }

  private splice(chunk: Buffer, changes: readonly string[]): Buffer {
    let current = chunk;
    for (const line of changes) {
      const remove = line.charCodeAt(0) === 0x2d;
      const at = findLine(current, lineIdentity(line));
      const replacement = remove ? EMPTY : Buffer.from(`${line}\n`, 'utf8');
      if (at === undefined) {
        if (remove) continue;
        current = Buffer.concat([current, replacement]);
        this.size++;
      } else {
        current = Buffer.concat([current.subarray(0, at[0]), replacement, current.subarray(at[1])]);
        if (remove) this.size--;
      }
    }
    return current;
  }

  private rebuild(index: number, changes: readonly string[]): Buffer {
    const lines = new Map<string, string>();
    const text = this.chunks[index]!.toString('utf8');
    if (text.length > 0)
      for (const line of text.slice(0, -1).split('\n')) lines.set(lineIdentity(line), line);
    const before = lines.size;
    for (const line of changes) {
      if (line.charCodeAt(0) === 0x2d) lines.delete(line.slice(1));
      else lines.set(lineIdentity(line), line);
    }
    this.size += lines.size - before;
    return Buffer.from(lines.size === 0 ? '' : `${[...lines.values()].join('\n')}\n`, 'utf8');
  }

  private grow(): void {
    const lines: string[] = [];
    for (const chunk of this.chunks) {
      const text = chunk.toString('utf8');
      if (text.length > 0) lines.push(...text.slice(0, -1).split('\n'));
    }
    this.chunks = this.distribute(lines, chunkCountFor(lines.length));
  }

  /**
   * An engine over this view's records, built on first use and kept in step with every change after.
   * Lookups of other namespaces go through `scope`.
   */
  engine(options: ConstructorParameters<typeof ViewEngine>[1]): ViewEngine {
    if (this.engineCache === undefined) {
      this.engineCache = new ViewEngine(this, options);
    }
    return this.engineCache;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Record lines as a reader not allowed sensitive values gets them: a flag whose values are sensitive is
 * a removal (`-F key`), so that a copy made before it became sensitive is dropped too.
 */
export function withoutSensitive(lines: readonly string[]): readonly string[] {
  if (!lines.some(isSensitiveFlagLine)) return lines;
  return lines.map((line) => (isSensitiveFlagLine(line) ? `-${lineIdentity(line)}` : line));
}

/** The [start, end) of the line of `identity` in `chunk`, end including its newline. */
function findLine(chunk: Buffer, identity: Identity): [number, number] | undefined {
  const head = `${identity}\t`;
  let start: number;
  if (chunk.length >= head.length && chunk.toString('utf8', 0, Buffer.byteLength(head)) === head) start = 0;
  else {
    const found = chunk.indexOf(`\n${head}`);
    if (found === -1) return undefined;
    start = found + 1;
  }
  const end = chunk.indexOf(NEWLINE, start);
  return [start, end === -1 ? chunk.length : end + 1];
}

/** A `FlagEngine` fed from a view: loaded from its chunks, then told each change. */
export class ViewEngine extends FlagEngine {
  constructor(view: NamespaceView, options: ConstructorParameters<typeof FlagEngine>[0]) {
    super(options);
    const header = Buffer.from(
      `${headerLine({ environment: view.environment, namespaces: { [view.namespace]: view.seq } })}\n`,
    );
    this.loadSnapshot(Buffer.concat([header, ...view.body()]));
  }

  applyLines(lines: readonly string[]): void {
    for (const line of lines) {
      const change = parseRecordLine(line);
      if (change === undefined) continue;
      if (change.op === 'remove') {
        if (change.kind === 'flag') this.deleteFlag(change.key);
        else this.deleteSegment(change.key);
        continue;
      }
      const record = recordOf(change);
      if (change.kind === 'flag') this.setFlag(record as FlagRecord);
      else this.setSegment(record as SegmentRecord);
    }
  }
}
