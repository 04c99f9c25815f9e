/**
 * Validation entry points. A document is checked against the schema first, then semantically; a set
 * of documents is also checked for duplicate keys and for references between its documents.
 */
import type { FlagDocument, Prerequisite, SegmentDocument } from '../document/schema.js';
import { IssueList, type ValidationIssue } from './issues.js';
import { type FlagSetLookup, referenceIssues } from './references.js';
import { flagSemanticIssues, segmentSemanticIssues } from './semantic.js';
import { structuralIssues } from './structural.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

function keyOf(document: unknown): string | undefined {
  const key = (document as { key?: unknown } | null)?.key;
  return typeof key === 'string' ? key : undefined;
}

function withDocument(issues: ValidationIssue[], document: string | undefined): ValidationIssue[] {
  return document === undefined ? issues : issues.map((i) => ({ document, ...i }));
}

/** Checks one flag document on its own (references to other documents are checked by `validateFlagSet`). */
export function validateFlag(document: unknown): Validated<FlagDocument> {
  const structural = structuralIssues('flag', document);
  if (structural.length > 0) return { ok: false, issues: structural };
  const issues = new IssueList();
  flagSemanticIssues(document as FlagDocument, issues);
  return issues.ok ? { ok: true, value: document as FlagDocument } : { ok: false, issues: issues.issues };
}

export function validateSegment(document: unknown): Validated<SegmentDocument> {
  const structural = structuralIssues('segment', document);
  if (structural.length > 0) return { ok: false, issues: structural };
  const issues = new IssueList();
  segmentSemanticIssues(document as SegmentDocument, issues);
  return issues.ok ? { ok: true, value: document as SegmentDocument } : { ok: false, issues: issues.issues };
}

export function isSegmentDocument(document: unknown): boolean {
  return (document as { kind?: unknown } | null)?.kind === 'segment';
}

export interface FlagSet {
  flags: FlagDocument[];
  segments: SegmentDocument[];
}

/**
 * Validates documents that are meant to stand together (a flags-as-code repository, an apply): each
 * document, unique keys, and every prerequisite and segment reference resolved within the set.
 */
export function validateFlagSet(documents: readonly unknown[]): Validated<FlagSet> {
  const issues: ValidationIssue[] = [];
  const flags = new Map<string, FlagDocument>();
  const segments = new Map<string, SegmentDocument>();
  documents.forEach((document, index) => {
    const key = keyOf(document);
    const label = key ?? `document ${index + 1}`;
    const segment = isSegmentDocument(document);
    const result = segment ? validateSegment(document) : validateFlag(document);
    if (!result.ok) {
      issues.push(...withDocument(result.issues, label));
      return;
    }
    const into = segment ? segments : flags;
    if (into.has(label)) {
      issues.push({
        document: label,
        path: 'key',
        message: `another ${segment ? 'segment' : 'flag'} has this key`,
      });
      return;
    }
    (into as Map<string, unknown>).set(label, result.value);
  });
  const none: Prerequisite[] = [];
  const lookup: FlagSetLookup = {
    variations: (key) => {
      const flag = flags.get(key);
      return flag === undefined ? undefined : Object.keys(flag.variations);
    },
    prerequisites: (key, env) => flags.get(key)?.environments[env]?.prerequisites ?? none,
    segmentExists: (key) => segments.has(key),
  };
  for (const flag of flags.values()) {
    const found = new IssueList(flag.key);
    referenceIssues(flag, lookup, found);
    issues.push(...found.issues);
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: { flags: [...flags.values()], segments: [...segments.values()] } };
}
