// The 'ranges' group: range reads (`scan`, `readCounts`) against a sorted in-memory model, on paths and
// namespaces of every length around the sizes where key encodings change, in namespaces that start each
// other (`a`, `a-b`, `a/b`).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import fc from 'fast-check';
import { type ConformanceContext, encoder, event } from './fixtures.js';

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// Short segments and long ones, so that namespace + path falls on both sides of 64 characters and more.
const segment = fc.oneof(fc.stringMatching(/^[a-c0-9_-]{1,4}$/), fc.stringMatching(/^[a-c]{20,70}$/));
const pathOf = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

/** Registers the 'ranges' tests. */
export function describeRanges(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('ranges', () => {
    test('range reads return exactly the paths of a sorted model: within the prefix, after the cursor, in order', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(pathOf, { minLength: 1, maxLength: 24 }),
          fc.constantFrom('', '-sibling', '/child'),
          fc.array(
            fc.tuple(fc.nat(), fc.nat({ max: 12 }), fc.option(fc.nat()), fc.integer({ min: 1, max: 6 })),
            {
              minLength: 1,
              maxLength: 8,
            },
          ),
          async (paths, otherSuffix, reads) => {
            // Each run has namespaces of its own: the one read, and one it starts (or that starts it).
            const namespace = `conf/ranges-${run++}`;
            const other = otherSuffix === '' ? `${namespace}/x` : `${namespace}${otherSuffix}`;
            for (const ns of [namespace, other]) {
              await ctx.adapter.commit({
                namespace: ns,
                preconditions: [],
                puts: paths.map((path) => ({ path, version: 1, value: encoder.encode(path) })),
                deletes: [],
                event: event(`ranges ${ns}`),
              });
              await ctx.adapter.addCounts(
                ns,
                paths.map((path) => ({ path, delta: 1 })),
              );
            }
            const sorted = [...paths].sort(byUtf8);
            for (const [which, cut, afterWhich, limit] of reads) {
              // A prefix cut from a stored path (most often one that matches), and a cursor that is
              // a stored path or a made-up one.
              const source = sorted[which % sorted.length]!;
              const prefix = source.slice(0, Math.min(cut, source.length));
              const after =
                afterWhich === null
                  ? undefined
                  : afterWhich % 3 === 0
                    ? `${prefix}b`
                    : sorted[afterWhich % sorted.length];
              const expected = sorted
                .filter((p) => p.startsWith(prefix) && (after === undefined || byUtf8(p, after) > 0))
                .slice(0, limit);
              const options = { ...(after === undefined ? {} : { after }), limit };
              const scanned = await ctx.adapter.scan(namespace, prefix, options);
              assert.deepEqual(
                scanned.map((r) => r.path),
                expected,
                `scan ${JSON.stringify({ prefix, ...options })}`,
              );
              const counted = await ctx.adapter.readCounts(namespace, prefix, options);
              assert.deepEqual(
                counted.map((c) => c.path),
                expected,
                `readCounts ${JSON.stringify({ prefix, ...options })}`,
              );
            }
            // Paging through with cursors visits every path once, in order.
            const visited: string[] = [];
            let after: string | undefined;
            for (;;) {
              const page = await ctx.adapter.scan(namespace, '', {
                ...(after === undefined ? {} : { after }),
                limit: 5,
              });
              visited.push(...page.map((r) => r.path));
              if (page.length < 5) break;
              after = page[page.length - 1]!.path;
              assert.ok(visited.length <= sorted.length, 'paging ends');
            }
            assert.deepEqual(visited, sorted);
          },
        ),
        { numRuns: 40 },
      );
    });
  });
}
