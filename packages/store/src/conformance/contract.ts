// The 'adapter contract' group: the adapter alone — atomic commits, preconditions, the gap-free ledger,
// scans, notifications, pruning.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { GENESIS } from '../ledger.js';
import { type ConformanceContext, encoder, event } from './fixtures.js';

/** Registers the 'adapter contract' tests. */
export function describeAdapterContract(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('adapter contract', () => {
    test('commits records and an event atomically, and reads them back with versions', async () => {
      const outcome = await ctx.adapter.commit({
        namespace: 'conf/commit',
        preconditions: [{ path: 'a', version: 0 }],
        puts: [
          { path: 'a', version: 1, value: encoder.encode('one') },
          { path: 'b', version: 0, value: encoder.encode('two') },
        ],
        deletes: [],
        event: event('first'),
      });
      assert.equal(outcome.ok, true);
      const [a, b, c] = await ctx.adapter.getMany('conf/commit', ['a', 'b', 'c']);
      assert.deepEqual([a?.version, Buffer.from(a!.value).toString()], [1, 'one']);
      assert.deepEqual([b?.version, Buffer.from(b!.value).toString()], [0, 'two']);
      assert.equal(c, undefined);
      assert.equal(await ctx.adapter.get('conf/other', 'a'), undefined);
    });

    test('changes nothing when a precondition fails, and names it', async () => {
      const head = await ctx.adapter.ledgerHead('conf/commit');
      const outcome = await ctx.adapter.commit({
        namespace: 'conf/commit',
        preconditions: [{ path: 'a', version: 7 }],
        puts: [{ path: 'z', version: 1, value: encoder.encode('never') }],
        deletes: ['b'],
        event: event('rejected'),
      });
      assert.deepEqual(outcome, { ok: false, path: 'a', expected: 7, actual: 1 });
      assert.equal(await ctx.adapter.get('conf/commit', 'z'), undefined);
      assert.notEqual(await ctx.adapter.get('conf/commit', 'b'), undefined);
      assert.deepEqual(await ctx.adapter.ledgerHead('conf/commit'), head);
    });

    test('numbers events per namespace without gaps and chains their hashes', async () => {
      for (let i = 0; i < 5; i++) {
        await ctx.adapter.commit({
          namespace: 'conf/ledger-a',
          preconditions: [],
          puts: [],
          deletes: [],
          event: event(`a${i}`),
        });
      }
      await ctx.adapter.commit({
        namespace: 'conf/ledger-b',
        preconditions: [],
        puts: [],
        deletes: [],
        event: event('b0'),
      });
      const entries = await ctx.adapter.readLedger('conf/ledger-a', 1, 100);
      assert.deepEqual(
        entries.map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(entries[0]!.prevHash, GENESIS);
      for (let i = 1; i < entries.length; i++) assert.equal(entries[i]!.prevHash, entries[i - 1]!.hash);
      assert.equal(Buffer.from(entries[2]!.body).toString(), 'a2');
      assert.equal((await ctx.adapter.ledgerHead('conf/ledger-a')).hash, entries[4]!.hash);
      assert.equal((await ctx.adapter.ledgerHead('conf/ledger-b')).seq, 1);
      assert.deepEqual(
        (await ctx.adapter.readLedger('conf/ledger-a', 4, 1)).map((e) => e.seq),
        [4],
      );
    });

    test('scans a prefix in path order from a cursor, and lists namespaces', async () => {
      const puts = ['x/3', 'x/1', 'x/2', 'y/1', 'x10'].map((path) => ({
        path,
        version: 0,
        value: encoder.encode(path),
      }));
      await ctx.adapter.commit({
        namespace: 'conf/scan',
        preconditions: [],
        puts,
        deletes: [],
        event: event('scan'),
      });
      const all = await ctx.adapter.scan('conf/scan', 'x/', { limit: 10 });
      assert.deepEqual(
        all.map((r) => r.path),
        ['x/1', 'x/2', 'x/3'],
      );
      const page = await ctx.adapter.scan('conf/scan', 'x/', { after: 'x/1', limit: 1 });
      assert.deepEqual(
        page.map((r) => r.path),
        ['x/2'],
      );
      const spaces = await ctx.adapter.namespaces('conf/', { limit: 100 });
      assert.ok(
        ['conf/commit', 'conf/ledger-a', 'conf/ledger-b', 'conf/scan'].every((n) => spaces.includes(n)),
      );
      assert.deepEqual(spaces, [...spaces].sort());
      assert.deepEqual(await ctx.adapter.namespaces('conf/ledger', { after: 'conf/ledger-a', limit: 5 }), [
        'conf/ledger-b',
      ]);
    });

    test('writes and deletes thousands of records in one commit', async () => {
      const paths = Array.from({ length: 2345 }, (_, i) => `big/${String(i).padStart(5, '0')}`);
      const put = await ctx.adapter.commit({
        namespace: 'conf/big',
        preconditions: [{ path: 'big/00000', version: 0 }],
        puts: paths.map((path, i) => ({ path, version: i + 1, value: encoder.encode(`v${i}`) })),
        deletes: [],
        event: event('big put'),
      });
      assert.ok(put.ok);
      const all = await ctx.adapter.scan('conf/big', 'big/', { limit: 10_000 });
      assert.deepEqual(
        all.map((r) => [r.path, r.version, new TextDecoder().decode(r.value)]),
        paths.map((path, i) => [path, i + 1, `v${i}`]),
      );
      const gone = await ctx.adapter.commit({
        namespace: 'conf/big',
        preconditions: [{ path: 'big/02344', version: 2345 }],
        puts: [],
        deletes: paths.slice(0, 1501),
        event: event('big delete'),
      });
      assert.ok(gone.ok);
      const left = await ctx.adapter.scan('conf/big', 'big/', { limit: 10_000 });
      assert.deepEqual(
        left.map((r) => r.path),
        paths.slice(1501),
      );
    });

    test('deletes records in a commit', async () => {
      await ctx.adapter.commit({
        namespace: 'conf/scan',
        preconditions: [],
        puts: [],
        deletes: ['x/2'],
        event: event('del'),
      });
      assert.equal(await ctx.adapter.get('conf/scan', 'x/2'), undefined);
    });

    test('lets exactly one of 16 concurrent commits with the same precondition through', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          ctx.adapter.commit({
            namespace: 'conf/race',
            preconditions: [{ path: 'only', version: 0 }],
            puts: [{ path: 'only', version: 1, value: encoder.encode(String(i)) }],
            deletes: [],
            event: event(`race ${i}`),
          }),
        ),
      );
      assert.equal(outcomes.filter((o) => o.ok).length, 1);
      assert.equal((await ctx.adapter.ledgerHead('conf/race')).seq, 1);
    });

    test('notifies watchers of durable commits', async () => {
      const seen: [string, number][] = [];
      const stop = ctx.adapter.watch((namespace, seq) => seen.push([namespace, seq]));
      await ctx.adapter.commit({
        namespace: 'conf/watch',
        preconditions: [],
        puts: [],
        deletes: [],
        event: event('w'),
      });
      const notified = () => seen.some(([ns, seq]) => ns === 'conf/watch' && seq === 1);
      for (let i = 0; i < 50 && !notified(); i++) await new Promise((r) => setTimeout(r, 20));
      stop();
      assert.ok(notified(), JSON.stringify(seen));
    });

    test('notifies watchers of every commit of a followed namespace', async () => {
      const seen: number[] = [];
      const stop = ctx.adapter.watch((namespace, seq) => {
        if (namespace === 'conf/follow') seen.push(seq);
      });
      await ctx.adapter.follow('conf/follow');
      for (let i = 0; i < 3; i++) {
        await ctx.adapter.commit({
          namespace: 'conf/follow',
          preconditions: [],
          puts: [],
          deletes: [],
          event: event(`f${i}`),
        });
      }
      const notified = () => [1, 2, 3].every((seq) => seen.includes(seq));
      for (let i = 0; i < 50 && !notified(); i++) await new Promise((r) => setTimeout(r, 20));
      stop();
      assert.ok(notified(), JSON.stringify(seen));
    });

    test('prunes the ledger to a checkpoint that keeps the chain verifiable', async () => {
      for (let i = 0; i < 6; i++) {
        await ctx.adapter.commit({
          namespace: 'conf/prune',
          preconditions: [],
          puts: [],
          deletes: [],
          event: event(`p${i}`),
        });
      }
      const fourth = (await ctx.adapter.readLedger('conf/prune', 4, 1))[0]!;
      await ctx.adapter.pruneLedger('conf/prune', 4);
      const head = await ctx.adapter.ledgerHead('conf/prune');
      assert.deepEqual(head.checkpoint, { seq: 4, hash: fourth.hash });
      assert.deepEqual(
        (await ctx.adapter.readLedger('conf/prune', 1, 10)).map((e) => e.seq),
        [5, 6],
      );
      assert.equal((await ctx.store.ledger.verify('conf/prune')).ok, true);
    });
  });
}
