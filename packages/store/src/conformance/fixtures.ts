// What the conformance groups share: the store under test (through a context read while tests run), the
// `test` wrapper, and helpers that make documents and events.
import type { FlagDocument } from '@switchyard/core';
import type { StoreAdapter } from '../contract.js';
import { digestOf } from '../ledger.js';
import type { FlagStore } from '../store.js';
import type { ChangeContext } from '../writer.js';

/**
 * What a group of the suite is given. `adapter` and `store` are set by the suite's `before` hook, after the
 * groups have registered their tests, so read them only while tests run (never when registering).
 */
export interface ConformanceContext {
  /** The adapter under test. */
  readonly adapter: StoreAdapter;
  /** The store built on `adapter`, whose clock is `clock`. */
  readonly store: FlagStore;
  /** The store's clock, in ms since the epoch; tests move it forward. */
  clock: number;
  /** `it`, except that a test the harness lists in `skip` is skipped with the reason given. */
  test(name: string, body: () => Promise<void>): void;
}

export const actor: ChangeContext = { actor: 'tester' };
export const encoder = new TextEncoder();

export function event(text: string) {
  const body = encoder.encode(text);
  return { digest: digestOf(body), body };
}

export function flag(
  key: string,
  extra: Partial<FlagDocument> = {},
  production: Record<string, unknown> = {},
): FlagDocument {
  return {
    key,
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { production: { enabled: true, offVariation: 'off', default: 'on', ...production } },
    ...extra,
  } as FlagDocument;
}
