/**
 * API tokens and what they allow. A token is `sy_<id>_<secret>`; the store keeps only a SHA-256 of the
 * secret, so a token is shown once, when it is created. Roles rank viewer < editor < publisher < admin;
 * scopes narrow a token to namespace prefixes and environments.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { environmentCovered, namespaceCovered, unscoped } from '@switchyard/core';
import { type FlagStore, SYSTEM_NAMESPACE, type TokenRecord } from '@switchyard/store';
import { forbidden, unauthorized } from '../problems.js';

export const ROLES = ['viewer', 'editor', 'publisher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * SDK keys are tokens of one environment for the delivery endpoints, never the control plane:
 * `sdk-server` keys read full rules, `sdk-client` keys may only evaluate (OFREP).
 */
export const SDK_ROLES = ['sdk-server', 'sdk-client'] as const;
export type SdkRole = (typeof SDK_ROLES)[number];
export const isSdkRole = (role: string): role is SdkRole => (SDK_ROLES as readonly string[]).includes(role);

export interface Principal {
  tokenId: string;
  name: string;
  role: Role | SdkRole;
  /** Namespace prefixes the token may touch; empty for all. */
  namespaces: readonly string[];
  /** Environments the token may touch; empty for all. */
  environments: readonly string[];
  /** Whether the token may read decrypted sensitive variation values (sdk-server keys do implicitly). */
  readSensitive?: boolean;
}

const TOKEN = /^sy_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** A new token: the value to show once, and the record to store. */
export function newToken(
  name: string,
  role: Role | SdkRole,
  scopes: { namespaces?: readonly string[]; environments?: readonly string[]; readSensitive?: boolean } = {},
  value?: string,
): { value: string; record: Omit<TokenRecord, 'createdAt' | 'createdBy' | 'revokedAt'> } {
  const token = value ?? `sy_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const parsed = TOKEN.exec(token);
  if (parsed === null) throw new Error('a token has the form sy_<16 hex>_<43 base64url characters>');
  return {
    value: token,
    record: {
      id: parsed[1]!,
      name,
      secretHash: hashSecret(parsed[2]!),
      role,
      scopes: { namespaces: [...(scopes.namespaces ?? [])], environments: [...(scopes.environments ?? [])] },
      ...(scopes.readSensitive === true ? { readSensitive: true } : {}),
    },
  };
}

/** The principal behind an `Authorization: Bearer` header, or a 401. */
export async function authenticate(
  store: FlagStore,
  header: string | undefined,
  now: number,
): Promise<Principal> {
  if (header === undefined) throw unauthorized('send an API token: Authorization: Bearer sy_…');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const parsed = match === null ? null : TOKEN.exec(match[1]!);
  if (parsed === null) throw unauthorized('the Authorization header does not hold a Switchyard token');
  const record = await store.tokens.get(parsed[1]!);
  const expected = record === undefined ? undefined : Buffer.from(record.secretHash, 'hex');
  const given = Buffer.from(hashSecret(parsed[2]!), 'hex');
  if (
    record === undefined ||
    expected === undefined ||
    expected.length !== given.length ||
    !timingSafeEqual(expected, given)
  ) {
    throw unauthorized('unknown token');
  }
  if (record.revokedAt !== undefined) throw unauthorized('this token was revoked');
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now)
    throw unauthorized('this token has expired');
  return {
    tokenId: record.id,
    name: record.name,
    role: record.role as Role | SdkRole,
    namespaces: record.scopes.namespaces ?? [],
    environments: record.scopes.environments ?? [],
    ...(record.readSensitive === true ? { readSensitive: true } : {}),
  };
}

/** Whether the principal sees decrypted sensitive values: sdk-server keys, and tokens given the right. */
export const readsSensitive = (principal: Principal) =>
  principal.role === 'sdk-server' || principal.readSensitive === true;

const rank = (role: Role | SdkRole) => (ROLES as readonly string[]).indexOf(role);

/** Whether `role` is at least `needed`; SDK roles rank below every control-plane role. */
export const atLeast = (role: Role | SdkRole, needed: Role) => rank(role) >= rank(needed);

/**
 * What a request reads or writes. `environment` names one environment; `environments` several (e.g. those
 * a document names); `everyEnvironment` says the change reaches every environment at once (archive,
 * delete), which only a token without an environment scope may make.
 */
export interface Target {
  namespace?: string;
  environment?: string;
  environments?: readonly string[];
  everyEnvironment?: boolean;
  /** Whether the change touches a protected environment (only publishers and admins change those). */
  protectedEnvironment?: boolean;
}

/** Whether the principal's namespace scopes (none: all) cover `namespace`: scope matching of @switchyard/core. */
export function inNamespaces(principal: Principal, namespace: string): boolean {
  return namespaceCovered(principal.namespaces, namespace);
}

/** Whether the principal's environment scopes (none: all) cover `environment`. */
export function inEnvironments(principal: Principal, environment: string): boolean {
  return environmentCovered(principal.environments, environment);
}

/** The reserved namespace (tokens, environments) and those under it: never written through the API. */
export const isSystemNamespace = (namespace: string) => namespaceCovered([SYSTEM_NAMESPACE], namespace);

/**
 * Refuses with 403 unless the principal may `act` ('read' | 'write' | 'admin') on the target: the role the
 * act needs (publisher for a protected environment), every namespace and environment of the target within
 * the token's scopes, and never a write into the system namespace.
 */
export function authorize(principal: Principal, act: 'read' | 'write' | 'admin', target: Target = {}): void {
  if (isSdkRole(principal.role)) {
    throw forbidden('an SDK key reads flags through the delivery endpoints only, not the control-plane API');
  }
  const needed: Role =
    act === 'admin'
      ? 'admin'
      : act === 'read'
        ? 'viewer'
        : target.protectedEnvironment
          ? 'publisher'
          : 'editor';
  if (!atLeast(principal.role, needed)) {
    const what =
      act === 'write' && target.protectedEnvironment
        ? target.environment === undefined
          ? 'change a protected environment'
          : `change protected environment "${target.environment}"`
        : act;
    throw forbidden(`a ${principal.role} token may not ${what}; it needs ${needed}`);
  }
  const { namespace } = target;
  if (namespace !== undefined && act !== 'read' && isSystemNamespace(namespace)) {
    throw forbidden(`namespace "${SYSTEM_NAMESPACE}" is reserved: nobody writes into it through the API`);
  }
  if (namespace !== undefined && !inNamespaces(principal, namespace)) {
    throw forbidden(`this token is limited to namespaces ${principal.namespaces.join(', ')}`);
  }
  const environments = [
    ...(target.environment === undefined ? [] : [target.environment]),
    ...(target.environments ?? []),
  ];
  for (const environment of environments) {
    if (!inEnvironments(principal, environment)) {
      throw forbidden(`this token is limited to environments ${principal.environments.join(', ')}`);
    }
  }
  if (target.everyEnvironment && principal.environments.length > 0) {
    throw forbidden(
      `this change reaches every environment, and this token is limited to ${principal.environments.join(', ')}`,
    );
  }
}

/**
 * Refuses (403) unless the principal is an admin without any scope: what changes environments needs,
 * and what reads the system namespace.
 */
export function authorizeUnscopedAdmin(principal: Principal, what: string): void {
  authorize(principal, 'admin');
  if (!unscoped(principal)) {
    throw forbidden(`${what} needs an admin token without namespace or environment scopes`);
  }
}
