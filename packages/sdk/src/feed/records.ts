/**
 * The record lines of snapshots and patches: `F key\t{…}` and `S key\t{…}` put a flag or a segment (the
 * full record), `-F key` and `-S key` remove one.
 */
import { splitKey } from '@switchyard/core';

export type RecordKind = 'flag' | 'segment';

/** One line of a patch, parsed only as far as its key: the record's JSON is left as text. */
export type RecordChange =
  | { op: 'put'; kind: RecordKind; key: string; json: string; line: string }
  | { op: 'remove'; kind: RecordKind; key: string; line: string };

function kindOf(letter: string): RecordKind | undefined {
  return letter === 'F' ? 'flag' : letter === 'S' ? 'segment' : undefined;
}

/** Parses a patch line; undefined for a line that is none of the four forms. */
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

/** The namespace of a flag or segment key: everything before its last `/`. */
export function namespaceOf(key: string): string {
  return splitKey(key).namespace;
}
