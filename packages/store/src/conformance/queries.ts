// The 'queries' group: listing flags by prefix, tag, text and what is enabled, across pages.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import type { FlagStore } from '../store.js';
import { actor, type ConformanceContext, flag } from './fixtures.js';

/** Registers the 'queries' tests (its `before` hook creates the flags they list). */
export function describeQueries(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('queries', () => {
    before(async () => {
      for (let i = 0; i < 30; i++) {
        const ns = i % 2 === 0 ? 'conf/query-a' : 'conf/query-b';
        await ctx.store.flags.create(
          flag(
            `${ns}/flag-${String(i).padStart(2, '0')}`,
            {
              tags: i % 3 === 0 ? ['mobile'] : ['web'],
              description: i % 5 === 0 ? 'Checkout card form' : 'Something else',
            },
            {
              enabled: i % 4 !== 0,
              ...(i % 6 === 0 ? { regions: { 'eu-west': { enabled: false } } } : {}),
              ...(i === 7
                ? { enabled: false, schedule: [{ at: '2026-12-01T00:00:00Z', set: { enabled: true } }] }
                : {}),
            },
          ),
          actor,
        );
      }
      await ctx.store.flags.archive('conf/query-a/flag-00', actor);
    });

    const all = async (query: Parameters<FlagStore['queries']['list']>[0]) => {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await ctx.store.queries.list({
          ...query,
          limit: 4,
          ...(cursor === undefined ? {} : { cursor }),
        });
        keys.push(...page.items.map((m) => m.key));
        cursor = page.cursor;
      } while (cursor !== undefined);
      return keys;
    };
    const expected = (pick: (i: number) => boolean, skipArchived = true) =>
      Array.from({ length: 30 }, (_, i) => i)
        .filter((i) => pick(i) && !(skipArchived && i === 0))
        .map((i) => `${i % 2 === 0 ? 'conf/query-a' : 'conf/query-b'}/flag-${String(i).padStart(2, '0')}`)
        .sort();

    test('lists by key prefix across pages, each flag once, archived ones apart', async () => {
      assert.deepEqual(
        await all({ prefix: 'conf/query-' }),
        expected(() => true),
      );
      assert.deepEqual(
        await all({ prefix: 'conf/query-b/flag-1' }),
        expected((i) => i % 2 === 1 && i >= 10 && i < 20),
      );
      assert.deepEqual(await all({ prefix: 'conf/query-', archived: true }), ['conf/query-a/flag-00']);
    });

    test('lists by tag and by words of the key or description', async () => {
      assert.deepEqual(
        await all({ prefix: 'conf/query-', tag: 'mobile' }),
        expected((i) => i % 3 === 0),
      );
      assert.deepEqual(
        await all({ prefix: 'conf/query-', text: 'card checkout' }),
        expected((i) => i % 5 === 0),
      );
      assert.deepEqual(await all({ prefix: 'conf/query-', text: 'nothing-like-this' }), []);
    });

    test('lists what is enabled in an environment, for a region, at a time', async () => {
      const base = (i: number) => (i === 7 ? false : i % 4 !== 0);
      assert.deepEqual(
        await all({ prefix: 'conf/query-', enabled: { environment: 'production' } }),
        expected(base),
      );
      assert.deepEqual(
        await all({ prefix: 'conf/query-', enabled: { environment: 'production', region: 'eu-west' } }),
        expected((i) => base(i) && i % 6 !== 0),
      );
      assert.deepEqual(
        await all({
          prefix: 'conf/query-',
          enabled: { environment: 'production', at: Date.parse('2026-12-02T00:00:00Z') },
        }),
        expected((i) => i === 7 || base(i)),
      );
      assert.deepEqual(await all({ prefix: 'conf/query-', enabled: { environment: 'staging' } }), []);
    });
  });
}
