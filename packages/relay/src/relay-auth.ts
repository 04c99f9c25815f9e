/**
 * How a relay checks the keys its SDKs send: it asks its upstream who a key is (`/sdk/v1/whoami`),
 * caches the answer, and remembers it on disk, so keys it has seen keep working while the upstream is
 * down. A key it has never seen cannot be checked then: 503, not a guess.
 */
import { createHash } from 'node:crypto';
import { environmentCovered } from '@switchyard/core';
import { type Authenticator, cachedAuthenticator, HttpProblem, type Principal } from '@switchyard/server';
import type { KnownKey, RelayStore } from './relay-store.js';

export interface RelayAuthOptions {
  upstream: string;
  store: RelayStore;
  environment: string;
  clock: () => number;
  /** How long an answer from upstream is trusted before asking again. */
  ttlMs?: number;
  timeoutMs?: number;
}

/** A key as `/sdk/v1/whoami` describes it: what the relay remembers of a key, but when it was checked. */
interface WhoIs extends Omit<KnownKey, 'checkedAt'> {
  role: Principal['role'];
}

/** What the upstream says of a key: who it is, that it refused it (401/403), or nothing (unreachable). */
export type WhoAmI =
  | {
      kind: 'known';
      who: WhoIs;
    }
  | { kind: 'refused'; status: 401 | 403; detail: string | undefined }
  | { kind: 'unreachable' };

/** Asks the upstream's `/sdk/v1/whoami` about the credentials. */
export async function whoAmI(upstream: string, authorization: string, timeoutMs: number): Promise<WhoAmI> {
  let response: Response;
  try {
    response = await fetch(`${upstream.replace(/\/+$/, '')}/sdk/v1/whoami`, {
      headers: { authorization },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    return { kind: 'unreachable' };
  }
  if (response.status === 401 || response.status === 403) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string };
    return { kind: 'refused', status: response.status, detail: problem.detail };
  }
  if (!response.ok) return { kind: 'unreachable' };
  return { kind: 'known', who: (await response.json()) as WhoIs };
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
    if (answer.kind === 'refused') {
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

  const remembered = (hash: string): Principal => {
    const known = store.knownKey(hash);
    if (known === undefined) {
      throw new HttpProblem(
        503,
        'Service Unavailable',
        'this relay cannot check a key it has not seen before while its upstream is unreachable; retry later',
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

  const inEnvironment = (principal: Principal): Principal => {
    if (!environmentCovered(principal.environments, environment)) {
      throw new HttpProblem(
        403,
        'Forbidden',
        `this relay serves environment "${environment}"; the key is for "${principal.environments.join('", "')}"`,
      );
    }
    return principal;
  };

  return cachedAuthenticator(ask, options.clock, options.ttlMs ?? 60_000);
}
