/**
 * Checking a flag's references against the store: prerequisites name existing flags and variations and
 * form no cycle (nor a chain deeper than the limit), segment references name existing segments. Walks
 * only the chains that start at this flag.
 */
import {
  type FlagDocument,
  type FlagSetLookup,
  formatIssues,
  IssueList,
  type Prerequisite,
  referenceIssues,
  splitKey,
} from '@switchyard/core';
import type { StoreAdapter } from './contract.js';
import { StoreValidationError } from './errors.js';
import { paths, type StateRecord } from './records.js';

const NO_PREREQUISITES: Prerequisite[] = [];

/** Whether a document names other flags or segments, which the store must then look up. */
export function hasReferences(doc: FlagDocument): boolean {
  return Object.values(doc.environments).some(
    (s) =>
      (s.prerequisites?.length ?? 0) > 0 ||
      (s.rules ?? []).some((r) =>
        (r.when ?? []).some((c) => c.op === 'inSegment' || c.op === 'notInSegment'),
      ),
  );
}

export interface FlagReader {
  variations(key: string): Promise<string[] | undefined>;
  state(key: string, environment: string): Promise<StateRecord | undefined>;
}

/** Throws `StoreValidationError` when the document's references do not hold in the store. */
export async function checkReferences(
  doc: FlagDocument,
  flags: FlagReader,
  adapter: StoreAdapter,
): Promise<void> {
  const variations = new Map<string, string[] | undefined>();
  const prerequisites = new Map<string, Prerequisite[]>();
  const segments = new Map<string, boolean>();
  const pending: { key: string; depth: number }[] = [];
  for (const [env, state] of Object.entries(doc.environments)) {
    for (const p of state.prerequisites ?? []) pending.push({ key: `${env}\u0000${p.flag}`, depth: 0 });
    for (const rule of state.rules ?? []) {
      for (const c of rule.when ?? []) {
        if (c.op === 'inSegment' || c.op === 'notInSegment') {
          for (const v of c.values ?? []) segments.set(String(v), false);
        }
      }
    }
  }
  // Walk prerequisite chains through the store, as deep as the limit allows.
  while (pending.length > 0) {
    const { key: at, depth } = pending.shift()!;
    if (prerequisites.has(at) || depth > 11) continue;
    const [env, flagKey] = at.split('\u0000') as [string, string];
    if (flagKey === doc.key) continue;
    if (!variations.has(flagKey)) variations.set(flagKey, await flags.variations(flagKey));
    const state = variations.get(flagKey) ? await flags.state(flagKey, env) : undefined;
    const next = state?.state.prerequisites ?? NO_PREREQUISITES;
    prerequisites.set(at, next);
    for (const p of next) pending.push({ key: `${env}\u0000${p.flag}`, depth: depth + 1 });
  }
  for (const segment of segments.keys()) {
    const { namespace, name } = splitKey(segment);
    segments.set(segment, (await adapter.get(namespace, paths.segment(name))) !== undefined);
  }
  const lookup: FlagSetLookup = {
    variations: (key) => variations.get(key),
    prerequisites: (key, env) => prerequisites.get(`${env}\u0000${key}`) ?? NO_PREREQUISITES,
    segmentExists: (key) => segments.get(key) === true,
  };
  const issues = new IssueList();
  referenceIssues(doc, lookup, issues);
  if (!issues.ok) throw new StoreValidationError(formatIssues(issues.issues), issues.issues);
}
