/**
 * What a token may do with other tokens. A token creates only tokens within its own role and scopes
 * (`scopesWithin` of @switchyard/core), grants `readSensitive` only if it has it, and lists or revokes only
 * tokens within its scopes. A new token's scopes are canonical, name namespaces and environments that
 * exist, and its expiry lies in the future.
 */
import { isCanonicalNamespaceScope, namespaceCovered, type Scopes, scopesWithin } from '@switchyard/core';
import { type FlagStore, SYSTEM_NAMESPACE, type TokenRecord } from '@switchyard/store';
import { forbidden, HttpProblem } from '../problems.js';
import {
  atLeast,
  authorize,
  isSdkRole,
  isSystemNamespace,
  type Principal,
  type Role,
  type SdkRole,
} from './access.js';

export interface TokenRequest {
  name: string;
  role: Role | SdkRole;
  namespaces?: string[];
  environments?: string[];
  readSensitive?: boolean;
  expiresAt?: string;
}

const invalid = (detail: string) => new HttpProblem(400, 'Bad Request', detail);

/** The scopes a token record carries (absent lists are empty: all). */
export const scopesOf = (record: Pick<TokenRecord, 'scopes'>): Scopes => ({
  namespaces: record.scopes.namespaces ?? [],
  environments: record.scopes.environments ?? [],
});

/** Whether the caller may see and revoke a token: an admin whose scopes hold the token's. */
export const manages = (caller: Principal, record: Pick<TokenRecord, 'scopes'>) =>
  scopesWithin(scopesOf(record), caller);

/** Whether some namespace with data is `scope` or under it. */
async function coversSomeNamespace(store: FlagStore, scope: string): Promise<boolean> {
  if ((await store.adapter.ledgerHead(scope)).seq > 0) return true;
  const under = await store.adapter.namespaces(`${scope}/`, { limit: 1 });
  return under.some((namespace) => namespaceCovered([scope], namespace));
}

/**
 * Refuses a token request the caller may not make: 403 for more than the caller has (role, scopes,
 * readSensitive), 400 for a malformed one (non-canonical or unknown scopes, an expiry in the past, an SDK
 * key without exactly one environment).
 */
export async function checkTokenRequest(
  store: FlagStore,
  caller: Principal,
  body: TokenRequest,
  now: number,
): Promise<void> {
  authorize(caller, 'admin');
  const namespaces = body.namespaces ?? [];
  const environments = body.environments ?? [];
  for (const scope of namespaces) {
    if (!isCanonicalNamespaceScope(scope)) {
      throw invalid(
        `namespaces: "${scope.slice(0, 100)}" is not a namespace scope: lowercase segments joined by "/", without a trailing "/", "..", or "*"`,
      );
    }
    // Neither the reserved namespace nor a scope above it (`switchyard` covers `switchyard/system`).
    if (isSystemNamespace(scope) || namespaceCovered([scope], SYSTEM_NAMESPACE)) {
      throw invalid(`namespaces: "${scope}" is or covers the reserved namespace ${SYSTEM_NAMESPACE}`);
    }
  }
  if (isSdkRole(body.role) && environments.length !== 1) {
    throw invalid(`an ${body.role} key belongs to exactly one environment: give "environments": ["<name>"]`);
  }
  if (body.expiresAt !== undefined && Date.parse(body.expiresAt) <= now) {
    throw invalid(`expiresAt: ${body.expiresAt} is not in the future`);
  }
  // What the caller may not grant: more than it holds.
  if (!isSdkRole(body.role) && !atLeast(caller.role, body.role)) {
    throw forbidden(`a ${caller.role} token may not create a ${body.role} token`);
  }
  if (!scopesWithin({ namespaces, environments }, caller)) {
    throw forbidden(
      `a token may only create tokens within its own scopes (namespaces: ${caller.namespaces.join(', ') || 'all'}; environments: ${caller.environments.join(', ') || 'all'})`,
    );
  }
  if (body.readSensitive === true && caller.readSensitive !== true) {
    throw forbidden('only a token that may read sensitive values may grant readSensitive');
  }
  // Scopes name what exists: a typo would otherwise grant nothing, silently.
  const known = (await store.flags.environments()).map((e) => e.name);
  for (const environment of environments) {
    if (!known.includes(environment)) {
      throw invalid(
        `environments: "${environment}" does not exist; the store has ${known.join(', ') || 'none'}`,
      );
    }
  }
  for (const scope of namespaces) {
    if (!(await coversSomeNamespace(store, scope))) {
      throw invalid(`namespaces: no namespace "${scope}" or under it exists`);
    }
  }
}
