/**
 * How a relay checks the keys its SDKs send: it asks its upstream who a key is (`/sdk/v1/whoami`),
 * caches the answer for a few seconds, and remembers it on disk, so keys it last saw valid keep working
 * while the upstream is down. A key it has never seen cannot be checked then: 503, not a guess. A key
 * the upstream refuses is forgotten: revoked on the server, it stops working through a relay that
 * reaches the server within 5 s (`DEFAULT_KEY_TTL_MS`, plus the time of one answer).
 */
import { createHash } from 'node:crypto';
import { environmentCovered } from '@switchyard/core';
import { readBody, UpstreamError } from '@switchyard/sdk';
import {
  type Authenticator,
  cachedAuthenticator,
  HttpProblem,
  type Principal,
  ROLES,
  SDK_ROLES,
} from '@switchyard/server';
import type { KnownKey, RelayStore } from './relay-store.js';

export interface RelayAuthOptions {
  upstream: string;
  store: RelayStore;
  environment: string;
  clock: () => number;
  /** How long an answer from upstream is trusted before asking again (`DEFAULT_KEY_TTL_MS`). */
  ttlMs?: number;
  timeoutMs?: number;
}

/** A key as `/sdk/v1/whoami` describes it: what the relay remembers of a key, but when it was checked. */
interface WhoIs extends Omit<KnownKey, 'checkedAt'> {
  role: Principal['role'];
}

/**
 * What the upstream says of a key: who it is, that it refused it (401/403), nothing (unreachable, or
 * an error status), or an answer the relay cannot read (`invalid`, with why: not JSON, or not the shape
 * of a key).
 */
export type WhoAmI =
  | {
      kind: 'known';
      who: WhoIs;
    }
  | { kind: 'refused'; status: 401 | 403; detail: string | undefined }
  | { kind: 'unreachable' }
  | { kind: 'invalid'; reason: string };

/**
 * How long a relay trusts its upstream's answer about a key: a revoked key stops working within 5 s,
 * this and the second left for the upstream's answer (whose `/sdk/v1/whoami` answers past its own cache).
 */
export const DEFAULT_KEY_TTL_MS = 4000;

/** Longest `/sdk/v1/whoami` answer read: a key's description is a few hundred bytes. */
const MAX_WHOAMI_BYTES = 64 * 1024;
const KNOWN_ROLES: readonly string[] = [...ROLES, ...SDK_ROLES];

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length <= 10_000 && value.every((item) => typeof item === 'string');

/** The key an answer describes, or why it describes none. */
function whoIs(value: unknown): WhoIs | string {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const { id, name, role, environments, namespaces } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof name !== 'string') return 'no string "id" and "name"';
  if (typeof role !== 'string' || !KNOWN_ROLES.includes(role)) return 'no known "role"';
  if (!isStrings(environments) || !isStrings(namespaces)) {
    return '"environments" and "namespaces" are not lists of names';
  }
  return { id, name, role: role as Principal['role'], environments, namespaces };
}

/** Asks the upstream's `/sdk/v1/whoami` about the credentials; never throws. */
export async function whoAmI(upstream: string, authorization: string, timeoutMs: number): Promise<WhoAmI> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${upstream.replace(/\/+$/, '')}/sdk/v1/whoami`, {
      headers: { authorization },
      signal,
    });
    // The timeout's signal bounds the body's time too.
    text = (await readBody(response, { maxBytes: MAX_WHOAMI_BYTES, what: 'whoami answer' })).toString('utf8');
  } catch (error) {
    return error instanceof UpstreamError && !signal.aborted
      ? { kind: 'invalid', reason: error.message }
      : { kind: 'unreachable' };
  }
  if (response.status === 401 || response.status === 403) {
    let detail: unknown;
    try {
      detail = (JSON.parse(text) as { detail?: unknown })?.detail;
    } catch {}
    return {
      kind: 'refused',
      status: response.status,
      detail: typeof detail === 'string' ? detail : undefined,
    };
  }
  if (!response.ok) return { kind: 'unreachable' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      kind: 'invalid',
      reason: `the upstream's /sdk/v1/whoami answered ${response.status} with no JSON`,
    };
  }
  const who = whoIs(body);
  return typeof who === 'string'
    ? { kind: 'invalid', reason: `the upstream's /sdk/v1/whoami answer is not a key: ${who}` }
    : { kind: 'known', who };
}

export function relayAuthenticator(options: RelayAuthOptions): Authenticator {
  const { store, environment } = options;
  const ask: Authenticator = async (authorization) => {
    if (authorization === undefined) {
      throw new HttpProblem(401, 'Unauthorized', 'send an SDK key: Authorization: Bearer sy_…');
    }
    const hash = createHash('sha256').update(authorization).digest('hex');
    const answer = await whoAmI(options.upstream, authorization, options.timeoutMs ?? 3000);
    if (answer.kind === 'unreachable') return remembered(hash);
    if (answer.kind === 'invalid') return remembered(hash, answer.reason);
    if (answer.kind === 'refused') {
      store.forgetKey(hash);
      throw new HttpProblem(
        answer.status,
        answer.status === 401 ? 'Unauthorized' : 'Forbidden',
        answer.detail ?? 'the upstream refused this key',
      );
    }
    const { who } = answer;
    const principal: Principal = {
      tokenId: who.id,
      name: who.name,
      role: who.role,
      environments: who.environments,
      namespaces: who.namespaces,
    };
    store.rememberKey(hash, {
      id: who.id,
      name: who.name,
      role: who.role,
      environments: [...principal.environments],
      namespaces: [...principal.namespaces],
      checkedAt: options.clock(),
    });
    return inEnvironment(principal);
  };

  /** A key as last checked; `why` the upstream could not say (unreachable when absent). */
  const remembered = (hash: string, why?: string): Principal => {
    const known = store.knownKey(hash);
    if (known === undefined) {
      throw new HttpProblem(
        503,
        'Service Unavailable',
        why === undefined
          ? 'this relay cannot check a key it has not seen before while its upstream is unreachable; retry later'
          : `this relay cannot check a key it has not seen before: ${why}; retry later`,
        {},
        { 'retry-after': '5' },
      );
    }
    return inEnvironment({
      tokenId: known.id,
      name: known.name,
      role: known.role as Principal['role'],
      environments: known.environments,
      namespaces: known.namespaces,
    });
  };

  /**
   * The principal as this relay serves it: of the relay's one environment. A key of all environments is
   * narrowed to it, so that asking the relay for another environment is refused (403), never answered
   * with the empty data the relay holds for it.
   */
  const inEnvironment = (principal: Principal): Principal => {
    if (!environmentCovered(principal.environments, environment)) {
      throw new HttpProblem(
        403,
        'Forbidden',
        `this relay serves environment "${environment}"; the key is for "${principal.environments.join('", "')}"`,
      );
    }
    return { ...principal, environments: [environment] };
  };

  return cachedAuthenticator(ask, options.clock, options.ttlMs ?? DEFAULT_KEY_TTL_MS);
}
