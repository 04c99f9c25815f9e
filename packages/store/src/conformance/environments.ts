// The 'environments' group. Registered last: a new environment changes what later flags are created with.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { actor, type ConformanceContext } from './fixtures.js';

/** Registers the 'environments' tests; must be the last group of the suite. */
export function describeEnvironments(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('environments', () => {
    test('lists an environment as soon as it is added', async () => {
      const before = (await ctx.store.flags.environments()).map((e) => e.name);
      await ctx.store.flags.putEnvironment({ name: 'qa-late', protected: false }, actor);
      const after = (await ctx.store.flags.environments()).map((e) => e.name);
      assert.deepEqual(after, [...before, 'qa-late'].sort());
    });
  });
}
