// The 'environments' group. Registered last: a new environment changes what later flags are created with.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { actor, type ConformanceContext, flag } from './fixtures.js';

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

    test('gives flags made before an environment was added the initial state there, delivered and changeable', async () => {
      await ctx.store.flags.create(flag('conf/envs/early'), actor);
      await ctx.store.flags.putEnvironment({ name: 'qa-later', protected: false }, actor);
      const state = await ctx.store.flags.state('conf/envs/early', 'qa-later');
      assert.deepEqual([state?.version, state?.state.enabled, state?.state.offVariation], [1, false, 'off']);
      const delivered = [];
      for await (const page of ctx.store.delivery.flags('conf/envs', 'qa-later')) delivered.push(...page);
      assert.deepEqual(
        delivered.map((f) => [f.key, f.state.enabled, f.state.version]),
        [['conf/envs/early', false, 1]],
      );
      const changed = await ctx.store.flags.updateState(
        'conf/envs/early',
        'qa-later',
        { expectedVersion: 1, state: { enabled: true, offVariation: 'off', default: 'on' } },
        actor,
      );
      assert.equal(changed.version, 2);
    });
  });
}
