// The 'counters' group: counters outside the ledger (`addCounts`, `readCounts`) and the exposure counts
// built on them.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { StoreValidationError } from '../errors.js';
import type { ConformanceContext } from './fixtures.js';

const HOUR = 3600_000;

/** Registers the 'counters' tests. */
export function describeCounters(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('counters', () => {
    test('adds counts, summing repeated paths, and reads them by prefix in path order', async () => {
      await ctx.adapter.addCounts('conf/counters', [
        { path: 'c/b', delta: 2 },
        { path: 'c/a', delta: 1 },
        { path: 'c/b', delta: 3 },
        { path: 'd/a', delta: 7 },
      ]);
      await ctx.adapter.addCounts('conf/counters', [{ path: 'c/a', delta: 10 }]);
      assert.deepEqual(await ctx.adapter.readCounts('conf/counters', 'c/', { limit: 10 }), [
        { path: 'c/a', count: 11 },
        { path: 'c/b', count: 5 },
      ]);
      assert.deepEqual(await ctx.adapter.readCounts('conf/counters', 'c/', { after: 'c/a', limit: 1 }), [
        { path: 'c/b', count: 5 },
      ]);
      assert.deepEqual(await ctx.adapter.readCounts('conf/counters', 'e/', { limit: 10 }), []);
      assert.deepEqual(await ctx.adapter.readCounts('conf/elsewhere', 'c/', { limit: 10 }), []);
    });

    test('keeps counters out of the records, the ledger and the namespace list', async () => {
      const seen: string[] = [];
      const stop = ctx.adapter.watch((namespace) => seen.push(namespace));
      await ctx.adapter.addCounts('conf/counters-only', [{ path: 'x', delta: 1 }]);
      assert.equal(await ctx.adapter.get('conf/counters-only', 'x'), undefined);
      assert.deepEqual(await ctx.adapter.scan('conf/counters-only', '', { limit: 10 }), []);
      assert.equal((await ctx.adapter.ledgerHead('conf/counters-only')).seq, 0);
      assert.deepEqual(await ctx.adapter.namespaces('conf/counters-only', { limit: 10 }), []);
      await new Promise((resolve) => setTimeout(resolve, 100));
      stop();
      assert.ok(!seen.includes('conf/counters-only'), JSON.stringify(seen));
      assert.deepEqual(await ctx.adapter.readCounts('conf/counters-only', '', { limit: 10 }), [
        { path: 'x', count: 1 },
      ]);
    });

    test('loses no count of 32 concurrent calls on the same counters', async () => {
      await Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          ctx.adapter.addCounts('conf/counters-race', [
            { path: 'hot', delta: 1 },
            { path: `cold/${String(i).padStart(2, '0')}`, delta: i + 1 },
          ]),
        ),
      );
      const counts = await ctx.adapter.readCounts('conf/counters-race', '', { limit: 100 });
      assert.equal(counts.length, 33);
      assert.deepEqual(counts[counts.length - 1], { path: 'hot', count: 32 });
      assert.equal(
        counts.reduce((sum, c) => sum + c.count, 0),
        32 + (32 * 33) / 2,
      );
    });

    test('counts exposures per flag, environment, hour and variant, and reads back a range of hours', async () => {
      const t0 = Date.parse('2026-11-24T10:00:00Z');
      await ctx.store.exposures.record('production', [
        { flag: 'conf/exposures/card', variant: 'on', hour: t0, count: 3 },
        { flag: 'conf/exposures/card', variant: 'off', hour: t0, count: 5 },
        { flag: 'conf/exposures/card', variant: 'on', hour: t0 + HOUR, count: 1 },
        { flag: 'conf/exposures/card', variant: 'on', hour: t0 + 2 * HOUR, count: 4 },
        { flag: 'conf/exposures/card-v2', variant: 'on', hour: t0, count: 100 },
        { flag: 'conf/other/card', variant: 'on', hour: t0, count: 100 },
      ]);
      await ctx.store.exposures.record('production', [
        { flag: 'conf/exposures/card', variant: 'on', hour: t0, count: 2 },
      ]);
      await ctx.store.exposures.record('staging', [
        { flag: 'conf/exposures/card', variant: 'on', hour: t0, count: 100 },
      ]);
      const read = (from: number, to: number) =>
        ctx.store.exposures.read('conf/exposures/card', 'production', from, to);
      assert.deepEqual(await read(t0, t0 + 2 * HOUR), [
        { flag: 'conf/exposures/card', variant: 'off', hour: t0, count: 5 },
        { flag: 'conf/exposures/card', variant: 'on', hour: t0, count: 5 },
        { flag: 'conf/exposures/card', variant: 'on', hour: t0 + HOUR, count: 1 },
      ]);
      // From inside an hour: that hour counts; to the start of an hour: that hour does not.
      assert.deepEqual(
        (await read(t0 + HOUR + 1, t0 + 3 * HOUR)).map((e) => [e.hour, e.count]),
        [
          [t0 + HOUR, 1],
          [t0 + 2 * HOUR, 4],
        ],
      );
      assert.deepEqual(await read(t0 - 5 * HOUR, t0), []);
      assert.equal((await ctx.adapter.ledgerHead('conf/exposures')).seq, 0);
    });

    test('leaves out each invalid exposure count, says which, and adds the others of the call', async () => {
      const t0 = Date.parse('2026-11-24T10:00:00Z');
      const invalid = [
        { flag: 'no-namespace', variant: 'on', hour: t0, count: 1 },
        { flag: 'conf/invalid/card', variant: '1st', hour: t0, count: 1 },
        { flag: 'conf/invalid/card', variant: 'on', hour: t0 + 1, count: 1 },
        { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 0 },
        { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 1.5 },
        // dated 1969, and a count past 2^53
        { flag: 'conf/invalid/card', variant: 'on', hour: -HOUR, count: 1 },
        { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 2 ** 53 + 2 },
      ];
      const refused = await ctx.store.exposures.record('production', [
        { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 1 },
        ...invalid,
        { flag: 'conf/invalid/other', variant: 'off', hour: t0, count: 2 },
      ]);
      assert.deepEqual(
        refused.map((r) => r.entry),
        invalid,
      );
      assert.deepEqual(
        refused.map((r) => r.issue.path),
        ['flag', 'variant', 'hour', 'count', 'count', 'hour', 'count'],
      );
      assert.deepEqual(await ctx.store.exposures.read('conf/invalid/card', 'production', 0, t0 * 2), [
        { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 1 },
      ]);
      assert.deepEqual(await ctx.store.exposures.read('conf/invalid/other', 'production', 0, t0 * 2), [
        { flag: 'conf/invalid/other', variant: 'off', hour: t0, count: 2 },
      ]);
      await assert.rejects(
        ctx.store.exposures.record('Prod/uction', [
          { flag: 'conf/invalid/card', variant: 'on', hour: t0, count: 1 },
        ]),
        StoreValidationError,
      );
    });
  });
}
