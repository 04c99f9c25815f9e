/**
 * Cross-namespace references. A rule `inSegment <segment>` or a prerequisite on a flag of another
 * namespace makes evaluation reveal that segment's members or that flag's values, so writing one needs read
 * rights on the target's namespace. A target the token cannot read and one that does not exist get the same
 * message, so validation tells nothing about namespaces the token cannot see.
 */
import { formatIssues, formatPath, names, namespaceOf, type ValidationIssue } from '@switchyard/core';
import { type FlagStore, paths, StoreValidationError } from '@switchyard/store';
import { inNamespaces, type Principal } from './access.js';

/** Deeper than any reference the schema allows: what lies below is refused by validation anyway. */
const MAX_DEPTH = 32;

interface Reference {
  kind: 'flag' | 'segment';
  key: string;
  path: (string | number)[];
}

/**
 * The flags (prerequisites) and segments (`inSegment`, `notInSegment` conditions) that `value` names,
 * wherever they sit (rules, regions, schedule). Runs before validation, so it reads any shape and never
 * throws; what is not a key is left to validation.
 */
function referencesIn(value: unknown, path: (string | number)[], out: Reference[]): void {
  if (path.length > MAX_DEPTH || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      if (typeof item === 'object' && item !== null) referencesIn(item, [...path, i], out);
    }
    return;
  }
  const object = value as Record<string, unknown>;
  if ((object.op === 'inSegment' || object.op === 'notInSegment') && Array.isArray(object.values)) {
    object.values.forEach((key, i) => {
      if (typeof key === 'string') out.push({ kind: 'segment', key, path: [...path, 'values', i] });
    });
  }
  if (Array.isArray(object.prerequisites)) {
    object.prerequisites.forEach((p, i) => {
      const key = (p as { flag?: unknown } | null)?.flag;
      if (typeof key === 'string')
        out.push({ kind: 'flag', key, path: [...path, 'prerequisites', i, 'flag'] });
    });
  }
  for (const [field, child] of Object.entries(object)) {
    if (field !== 'prerequisites' && field !== 'values') referencesIn(child, [...path, field], out);
  }
}

/**
 * Throws a 422 `StoreValidationError` when `environments` (a flag's or segment's states by environment, as
 * a request gives them) refers to a flag or segment of another namespace that the principal may not read,
 * or that does not exist.
 */
export async function checkForeignReferences(
  store: FlagStore,
  principal: Principal,
  key: string,
  environments: unknown,
): Promise<void> {
  const references: Reference[] = [];
  referencesIn(environments, ['environments'], references);
  const own = namespaceOf(key);
  const seen = new Map<string, boolean>();
  const issues: ValidationIssue[] = [];
  for (const reference of references) {
    if (!names.FLAG_KEY.regex.test(reference.key)) continue; // validation names it
    const namespace = namespaceOf(reference.key);
    if (namespace === own) continue;
    const id = `${reference.kind}\u0000${reference.key}`;
    let ok = seen.get(id);
    if (ok === undefined) {
      ok = inNamespaces(principal, namespace) && (await exists(store, reference));
      seen.set(id, ok);
    }
    if (!ok) {
      issues.push({
        path: formatPath(reference.path),
        message: `${reference.kind} "${reference.key}" does not exist or is in a namespace this token may not read`,
      });
    }
  }
  if (issues.length > 0) throw new StoreValidationError(formatIssues(issues), issues);
}

async function exists(store: FlagStore, reference: Reference): Promise<boolean> {
  if (reference.kind === 'flag') return (await store.flags.meta(reference.key)) !== undefined;
  const namespace = namespaceOf(reference.key);
  const name = reference.key.slice(namespace.length + 1);
  return (await store.adapter.get(namespace, paths.segment(name))) !== undefined;
}
