/**
 * The conformance suite every adapter runs (the adapter's test file calls `runConformanceSuite`). It
 * checks the contract — atomic commits, preconditions, the gap-free ledger, scans, notifications,
 * counters — and the whole store built on the adapter. An adapter may skip a test only with a stated
 * reason.
 *
 * The groups of tests live in the modules of this directory; they share one store, so the order in which
 * they are registered here matters.
 */
import { after, before, describe, it } from 'node:test';
import type { StoreAdapter } from '../contract.js';
import { FlagStore } from '../store.js';
import { describeAdapterContract } from './contract.js';
import { describeCounters } from './counters.js';
import { describeEnvironments } from './environments.js';
import { actor, type ConformanceContext } from './fixtures.js';
import { describeFlags } from './flags.js';
import { describeLedgerAndFeed } from './ledger-feed.js';
import { describeQueries } from './queries.js';
import { describeRanges } from './ranges.js';
import { describeSegmentsAndTokens } from './segments-tokens.js';

export interface ConformanceHarness {
  name: string;
  /** A fresh, empty adapter; the suite closes it. */
  open(): Promise<StoreAdapter>;
  /** Test names to skip, each with the reason. */
  skip?: Record<string, string>;
}

export function runConformanceSuite(harness: ConformanceHarness): void {
  const skip = harness.skip ?? {};
  const test = (name: string, body: () => Promise<void>) =>
    skip[name] === undefined ? it(name, body) : it(name, { skip: skip[name] }, body);

  describe(`store conformance: ${harness.name}`, () => {
    let adapter: StoreAdapter;
    let store: FlagStore;
    let clock = Date.parse('2026-11-24T12:00:00Z');

    before(async () => {
      adapter = await harness.open();
      store = new FlagStore(adapter, { clock: () => clock, historyLimit: 5, feedPollIntervalMs: 50 });
      for (const name of ['development', 'staging', 'production']) {
        await store.flags.putEnvironment({ name, protected: name === 'production' }, actor);
      }
    });
    after(async () => {
      await store.close();
    });

    const ctx: ConformanceContext = {
      get adapter() {
        return adapter;
      },
      get store() {
        return store;
      },
      get clock() {
        return clock;
      },
      set clock(value) {
        clock = value;
      },
      test,
    };
    describeAdapterContract(ctx);
    describeFlags(ctx);
    describeSegmentsAndTokens(ctx);
    describeQueries(ctx);
    describeLedgerAndFeed(ctx);
    describeCounters(ctx);
    describeRanges(ctx);
    // Last: a new environment changes what later flags are created with.
    describeEnvironments(ctx);
  });
}
