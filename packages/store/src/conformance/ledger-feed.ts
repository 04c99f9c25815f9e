// The 'ledger and change feed' group: verifying, replaying, subscribing to and pruning the ledger.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { actor, type ConformanceContext, flag } from './fixtures.js';

/** Registers the 'ledger and change feed' tests. */
export function describeLedgerAndFeed(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('ledger and change feed', () => {
    test('verifies the chain of a namespace', async () => {
      const result = await ctx.store.ledger.verify('conf/flags');
      assert.equal(result.ok, true, JSON.stringify(result.problem));
      assert.ok(result.checked > 10);
    });

    test('replays from a sequence number in order, then delivers new events live', async () => {
      const seen: number[] = [];
      const feed = ctx.store.ledger.subscribe(
        ['conf/feed'],
        { 'conf/feed': 0 },
        { event: (e) => seen.push(e.seq) },
      );
      await ctx.store.flags.create(flag('conf/feed/one'), actor);
      await feed.ready;
      for (let i = 0; i < 3; i++) {
        await ctx.store.flags.updateState(
          'conf/feed/one',
          'production',
          { state: (s) => ({ ...s, enabled: !s.enabled }) },
          actor,
        );
      }
      for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      feed.close();
      assert.deepEqual(seen, [1, 2, 3, 4]);
      const resumed: number[] = [];
      const again = ctx.store.ledger.subscribe(
        ['conf/feed'],
        { 'conf/feed': 2 },
        { event: (e) => resumed.push(e.seq) },
      );
      await again.ready;
      again.close();
      assert.deepEqual(resumed, [3, 4]);
    });

    test('prunes events by age and tells a subscriber behind the checkpoint to take a snapshot', async () => {
      await ctx.store.flags.create(flag('conf/aging/one'), actor);
      ctx.clock += 10 * 24 * 3600_000;
      await ctx.store.flags.updateState(
        'conf/aging/one',
        'production',
        { state: (s) => ({ ...s, enabled: false }) },
        actor,
      );
      assert.equal(await ctx.store.ledger.prune('conf/aging', 5 * 24 * 3600_000), 1);
      assert.equal((await ctx.store.ledger.verify('conf/aging')).ok, true);
      const resets: number[] = [];
      const seen: number[] = [];
      const feed = ctx.store.ledger.subscribe(
        ['conf/aging'],
        { 'conf/aging': 0 },
        {
          event: (e) => seen.push(e.seq),
          reset: (_ns, seq) => resets.push(seq),
        },
      );
      await feed.ready;
      feed.close();
      assert.deepEqual([resets, seen], [[1], [2]]);
    });
  });
}
