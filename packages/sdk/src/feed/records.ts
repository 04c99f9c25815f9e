/**
 * The record lines of snapshots and patches (their format is the core's), and the namespace of a key.
 */
import { splitKey } from '@switchyard/core';

export { parseRecordLine, type RecordChange, type RecordKind } from '@switchyard/core';

/** The namespace of a flag or segment key: everything before its last `/`. */
export function namespaceOf(key: string): string {
  return splitKey(key).namespace;
}
