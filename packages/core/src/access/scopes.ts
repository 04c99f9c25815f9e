/**
 * Scope matching: the one definition of which namespaces and environments a token's scopes cover. The
 * server's governance and delivery and the relay all import these; there is no other copy.
 *
 * A namespace scope is a canonical namespace name or prefix (lowercase segments joined by "/", no trailing
 * "/", no "..", no "*"); it covers itself and every namespace under it. An environment scope is an
 * environment name. An empty list of scopes covers everything.
 */
import { ENVIRONMENT } from '../document/names.js';

const SEGMENT = '[a-z0-9][a-z0-9_-]*';

/** A canonical namespace scope: one or more lowercase segments joined by "/". */
export const NAMESPACE_SCOPE = new RegExp(`^${SEGMENT}(/${SEGMENT})*$`);
/** The longest namespace scope: the longest namespace. */
export const NAMESPACE_SCOPE_MAX_LENGTH = 200;

export interface Scopes {
  /** Namespace scopes; empty for all. */
  readonly namespaces: readonly string[];
  /** Environments; empty for all. */
  readonly environments: readonly string[];
}

/** Whether `scope` is written canonically (what a token may carry); never normalised. */
export function isCanonicalNamespaceScope(scope: string): boolean {
  return scope.length <= NAMESPACE_SCOPE_MAX_LENGTH && NAMESPACE_SCOPE.test(scope);
}

/** Whether `scope` is a valid environment scope (an environment name). */
export function isCanonicalEnvironmentScope(scope: string): boolean {
  return scope.length <= ENVIRONMENT.maxLength && ENVIRONMENT.regex.test(scope);
}

/** True when `scopes` is empty, or some scope is `namespace` or a prefix of it at a "/". */
export function namespaceCovered(scopes: readonly string[], namespace: string): boolean {
  if (scopes.length === 0) return true;
  for (const scope of scopes) {
    if (namespace === scope || (namespace.startsWith(scope) && namespace[scope.length] === '/')) return true;
  }
  return false;
}

/** True when `scopes` is empty or names `environment`. */
export function environmentCovered(scopes: readonly string[], environment: string): boolean {
  return scopes.length === 0 || scopes.includes(environment);
}

/**
 * Whether `inner` grants nothing `outer` does not: every namespace scope of inner is covered by outer's
 * (an unscoped inner only within an unscoped outer), and likewise environments.
 */
export function scopesWithin(inner: Scopes, outer: Scopes): boolean {
  const namespaces =
    outer.namespaces.length === 0 ||
    (inner.namespaces.length > 0 && inner.namespaces.every((n) => namespaceCovered(outer.namespaces, n)));
  const environments =
    outer.environments.length === 0 ||
    (inner.environments.length > 0 &&
      inner.environments.every((e) => environmentCovered(outer.environments, e)));
  return namespaces && environments;
}

/** Whether the scopes reach every namespace and every environment (no scope at all). */
export function unscoped(scopes: Scopes): boolean {
  return scopes.namespaces.length === 0 && scopes.environments.length === 0;
}
