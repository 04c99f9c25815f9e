/**
 * Cross-namespace references. A rule `inSegment <segment>` or a prerequisite on a flag of another
 * namespace makes evaluation reveal that segment's members or that flag's values, so writing one needs read
 * rights on the target's namespace. A target the token cannot read and one that does not exist get the same
 * message, so validation tells nothing about namespaces the token cannot see.
 */
import {
  type EnvironmentState,
  forEachSegmentReference,
  formatIssues,
  formatPath,
  namespaceOf,
  type ValidationIssue,
} from '@switchyard/core';
import { type FlagStore, paths, StoreValidationError } from '@switchyard/store';
import { inNamespaces, type Principal } from './access.js';

/** A flag's states by environment, as a document or a change names them. */
type States = Record<
  string,
  Partial<Pick<EnvironmentState, 'prerequisites' | 'rules' | 'regions' | 'schedule'>>
>;

const unreadable = (kind: string, key: string) =>
  `${kind} "${key}" does not exist or is in a namespace this token may not read`;

/**
 * Throws a 422 `StoreValidationError` when a state of `key` refers to a flag or segment of another
 * namespace that the principal may not read, or that does not exist.
 */
export async function checkForeignReferences(
  store: FlagStore,
  principal: Principal,
  key: string,
  states: States,
): Promise<void> {
  const own = namespaceOf(key);
  const issues: ValidationIssue[] = [];
  const flags = new Map<string, boolean>();
  const segments = new Map<string, boolean>();
  const readable = async (
    target: string,
    exists: (key: string) => Promise<boolean>,
    seen: Map<string, boolean>,
  ) => {
    let ok = seen.get(target);
    if (ok === undefined) {
      const namespace = namespaceOf(target);
      ok = inNamespaces(principal, namespace) && (await exists(target));
      seen.set(target, ok);
    }
    return ok;
  };
  const flagExists = async (target: string) => (await store.flags.meta(target)) !== undefined;
  const segmentExists = async (target: string) => {
    const namespace = namespaceOf(target);
    const name = target.slice(namespace.length + 1);
    return (await store.adapter.get(namespace, paths.segment(name))) !== undefined;
  };
  for (const [env, state] of Object.entries(states)) {
    for (const [i, p] of (state.prerequisites ?? []).entries()) {
      if (namespaceOf(p.flag) === own || (await readable(p.flag, flagExists, flags))) continue;
      issues.push({
        path: formatPath(['environments', env, 'prerequisites', i, 'flag']),
        message: unreadable('flag', p.flag),
      });
    }
    const referenced: { key: string; path: (string | number)[] }[] = [];
    forEachSegmentReference(state as EnvironmentState, (segment, path) =>
      referenced.push({ key: segment, path }),
    );
    for (const { key: segment, path } of referenced) {
      if (!segment.includes('/') || namespaceOf(segment) === own) continue;
      if (await readable(segment, segmentExists, segments)) continue;
      issues.push({
        path: formatPath(['environments', env, ...path]),
        message: unreadable('segment', segment),
      });
    }
  }
  if (issues.length > 0) throw new StoreValidationError(formatIssues(issues), issues);
}
