/**
 * The compact snapshot: one environment's flags and segments as text, one record a line, so that a
 * reader can index every key without parsing any record, and parse a record only when it is used.
 *
 *   #switchyard-snapshot 1 {"environment":"production",…}
 *   F <flag key>\t{"type":…,"variations":…,"state":…}
 *   S <segment key>\t{…segment state…}
 *
 * Keys never hold tabs or newlines (naming rules), and JSON escapes both inside strings.
 */
import type { FlagRecord, SegmentRecord } from '../document/schema.js';

export const SNAPSHOT_MAGIC = '#switchyard-snapshot 1 ';

export interface SnapshotHeader {
  environment: string;
  [field: string]: unknown;
}

export const FLAG_LINE = 0x46; // 'F'
export const SEGMENT_LINE = 0x53; // 'S'
export const TAB = 0x09;
export const NEWLINE = 0x0a;

/** What a flag line's JSON starts with when the flag's values are sensitive (`flagLine` puts it first). */
export const SENSITIVE_MARK = '{"sensitive":true,';

/** One flag's line, without its newline; the server caches these per flag. */
export function flagLine(record: FlagRecord): string {
  const fields = { type: record.type, variations: record.variations, state: record.state };
  return `F ${record.key}\t${JSON.stringify(record.sensitive ? { sensitive: true, ...fields } : fields)}`;
}

/** Whether a flag line (as `flagLine` writes it) marks the flag's values sensitive, without parsing it. */
export function isSensitiveFlagLine(line: string): boolean {
  const tab = line.indexOf('\t');
  return line.charCodeAt(0) === FLAG_LINE && tab !== -1 && line.startsWith(SENSITIVE_MARK, tab + 1);
}

export function segmentLine(record: SegmentRecord): string {
  return `S ${record.key}\t${JSON.stringify(record.state)}`;
}

/** The header line, without its newline: what `readHeader` reads back. */
export function headerLine(header: SnapshotHeader): string {
  return SNAPSHOT_MAGIC + JSON.stringify(header);
}

/** Encodes a whole snapshot. */
export function encodeSnapshot(
  header: SnapshotHeader,
  flags: Iterable<FlagRecord>,
  segments: Iterable<SegmentRecord> = [],
): Buffer {
  const parts = [headerLine(header)];
  for (const s of segments) parts.push(segmentLine(s));
  for (const f of flags) parts.push(flagLine(f));
  parts.push('');
  return Buffer.from(parts.join('\n'), 'utf8');
}

export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

/** Reads the header line; throws `SnapshotFormatError` when the bytes are not a snapshot. */
export function readHeader(bytes: Buffer): { header: SnapshotHeader; bodyStart: number } {
  const end = bytes.indexOf(NEWLINE);
  const first = bytes.toString('utf8', 0, end === -1 ? Math.min(bytes.length, 4096) : end);
  if (!first.startsWith(SNAPSHOT_MAGIC)) {
    throw new SnapshotFormatError(
      'not a Switchyard snapshot, or a format version this engine does not read (expected "#switchyard-snapshot 1")',
    );
  }
  let header: SnapshotHeader;
  try {
    header = JSON.parse(first.slice(SNAPSHOT_MAGIC.length)) as SnapshotHeader;
  } catch (error) {
    throw new SnapshotFormatError(`snapshot header is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof header?.environment !== 'string')
    throw new SnapshotFormatError('snapshot header names no environment');
  return { header, bodyStart: end === -1 ? bytes.length : end + 1 };
}

/** The JSON text of the record whose line starts at `offset`. */
export function recordText(bytes: Buffer, offset: number): string {
  let tab = offset + 2;
  while (tab < bytes.length && bytes[tab] !== TAB) tab++;
  let end = bytes.indexOf(NEWLINE, tab);
  if (end === -1) end = bytes.length;
  return bytes.toString('utf8', tab + 1, end);
}

/**
 * Record lines as snapshots and patches carry them: `F key\t{…}` and `S key\t{…}` put a flag or a
 * segment (the full record), `-F key` and `-S key` remove one.
 */
export type RecordKind = 'flag' | 'segment';

/** One record line, parsed only as far as its key: the record's JSON is left as text. */
export type RecordChange =
  | { op: 'put'; kind: RecordKind; key: string; json: string; line: string }
  | { op: 'remove'; kind: RecordKind; key: string; line: string };

function kindOf(letter: string): RecordKind | undefined {
  return letter === 'F' ? 'flag' : letter === 'S' ? 'segment' : undefined;
}

/** Parses a record line; undefined for a line that is none of the four forms. */
export function parseRecordLine(line: string): RecordChange | undefined {
  if (line.startsWith('-')) {
    const kind = kindOf(line.charAt(1));
    if (kind === undefined || line.charAt(2) !== ' ' || line.length < 4) return undefined;
    return { op: 'remove', kind, key: line.slice(3), line };
  }
  const kind = kindOf(line.charAt(0));
  const tab = line.indexOf('\t');
  if (kind === undefined || line.charAt(1) !== ' ' || tab < 3) return undefined;
  return { op: 'put', kind, key: line.slice(2, tab), json: line.slice(tab + 1), line };
}

/**
 * The record a put carries, its JSON parsed: a flag is its fields under its key, a segment its state.
 * Throws a `SyntaxError` when the JSON is not valid.
 */
export function recordOf(change: Extract<RecordChange, { op: 'put' }>): FlagRecord | SegmentRecord {
  const value = JSON.parse(change.json);
  return change.kind === 'flag' ? { key: change.key, ...value } : { key: change.key, state: value };
}

/** A record line's identity, the same for a put and a removal of one record: `F <key>` or `S <key>`. */
export function lineIdentity(line: string): string {
  if (line.charCodeAt(0) === 0x2d) return line.slice(1);
  const tab = line.indexOf('\t');
  return tab === -1 ? line : line.slice(0, tab);
}

/**
 * Calls `each` for every record line of a snapshot body from `start`: its kind byte (`F` or `S`), key,
 * and the line's start and end offsets (end at its newline). Other lines are passed over.
 */
export function scanRecordLines(
  bytes: Buffer,
  start: number,
  each: (kind: number, key: string, lineStart: number, lineEnd: number) => void,
): void {
  let pos = start;
  while (pos < bytes.length) {
    let end = bytes.indexOf(NEWLINE, pos);
    if (end === -1) end = bytes.length;
    const kind = bytes[pos];
    if ((kind === FLAG_LINE || kind === SEGMENT_LINE) && bytes[pos + 1] === 0x20) {
      const tab = bytes.indexOf(TAB, pos + 2);
      if (tab !== -1 && tab < end) each(kind, bytes.toString('utf8', pos + 2, tab), pos, end);
    }
    pos = end + 1;
  }
}
