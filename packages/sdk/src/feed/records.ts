/**
 * The record lines of snapshots and patches (their format is the core's), and the namespace of a key.
 */
export { namespaceOf, parseRecordLine, type RecordChange, type RecordKind } from '@switchyard/core';
