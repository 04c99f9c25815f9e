/**
 * API tokens and what they allow. A token is `sy_<id>_<secret>`; the store keeps only a SHA-256 of the
 * secret, so a token is shown once, when it is created. Roles rank viewer < editor < publisher < admin;
 * scopes narrow a token to namespace prefixes and environments.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FlagStore, TokenRecord } from '@switchyard/store';
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
}

const TOKEN = /^sy_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** A new token: the value to show once, and the record to store. */
export function newToken(
  name: string,
  role: Role | SdkRole,
  scopes: { namespaces?: readonly string[]; environments?: readonly string[] } = {},
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
  };
}

const rank = (role: Role | SdkRole) => (ROLES as readonly string[]).indexOf(role);

export interface Target {
  namespace?: string;
  environment?: string;
  /** Whether `environment` is protected (only publishers and admins change it). */
  protectedEnvironment?: boolean;
}

/**
 * Whether the principal's namespace scopes (none: all) cover `namespace`: a scope covers itself and the
 * namespaces under it, `team` and `team/` alike.
 */
export function inNamespaces(principal: Principal, namespace: string): boolean {
  return (
    principal.namespaces.length === 0 ||
    principal.namespaces.some((p) => namespace === p || namespace.startsWith(p.endsWith('/') ? p : `${p}/`))
  );
}

/** Refuses with 403 unless the principal may `act` ('read' | 'write' | 'admin') on the target. */
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
  if (rank(principal.role) < rank(needed)) {
    const what =
      act === 'write' && target.protectedEnvironment
        ? `change protected environment "${target.environment}"`
        : act;
    throw forbidden(`a ${principal.role} token may not ${what}; it needs ${needed}`);
  }
  const { namespace, environment } = target;
  if (namespace !== undefined && !inNamespaces(principal, namespace)) {
    throw forbidden(`this token is limited to namespaces ${principal.namespaces.join(', ')}`);
  }
  if (
    environment !== undefined &&
    principal.environments.length > 0 &&
    !principal.environments.includes(environment)
  ) {
    throw forbidden(`this token is limited to environments ${principal.environments.join(', ')}`);
  }
}
