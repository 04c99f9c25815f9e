import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { open } from 'lmdb';
import { encoder, event } from '../conformance/fixtures.js';
import { runConformanceSuite } from '../conformance/suite.js';
import { chainHash, GENESIS } from '../ledger.js';
import { LmdbAdapter } from './lmdb.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runConformanceSuite({
  name: 'lmdb',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-'));
    dirs.push(dir);
    return new LmdbAdapter({ path: dir });
  },
});

describe('lmdb large commits, queued on each other', () => {
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-'));
    dirs.push(dir);
    return new LmdbAdapter({ path: dir });
  };
  const put = (path: string) => ({ path, version: 1, value: encoder.encode(path) });
  // More records than a small commit (which runs as a child transaction) writes, so the commit is queued.
  const padding = (tag: string) => Array.from({ length: 70 }, (_, i) => put(`pad/${tag}/${i}`));

  /** The namespace's ledger links up from its checkpoint (or the start) to its head. */
  async function assertChain(adapter: LmdbAdapter, ns: string): Promise<number[]> {
    const head = await adapter.ledgerHead(ns);
    const entries = await adapter.readLedger(ns, 0, 10_000);
    let prev = head.checkpoint?.hash ?? GENESIS;
    let seq = head.checkpoint?.seq ?? 0;
    for (const e of entries) {
      assert.equal(e.seq, seq + 1, 'no gap and no repeat');
      assert.equal(e.prevHash, prev);
      assert.equal(e.hash, chainHash(prev, e.seq, e.digest));
      prev = e.hash;
      seq = e.seq;
    }
    assert.deepEqual([seq, prev], [head.seq, head.hash]);
    return entries.map((e) => e.seq);
  }

  test('a refused commit does not take down the ones queued behind it', async () => {
    const adapter = open();
    await adapter.commit({
      namespace: 'q/ns',
      preconditions: [],
      puts: [put('taken')],
      deletes: [],
      event: event('first'),
    });
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        adapter.commit({
          namespace: 'q/ns',
          // every 5th insists that "taken" does not exist yet, and is refused
          preconditions: i % 5 === 0 ? [{ path: 'taken', version: 0 }] : [{ path: `p${i}`, version: 0 }],
          puts: [put(`p${i}`), ...padding(`p${i}`)],
          deletes: [],
          event: event(`commit ${i}`),
        }),
      ),
    );
    outcomes.forEach((outcome, i) => {
      if (i % 5 === 0) assert.deepEqual(outcome, { ok: false, path: 'taken', expected: 0, actual: 1 });
      else assert.equal(outcome.ok, true, `commit ${i}`);
    });
    const written = outcomes.filter((o) => o.ok).map((o) => (o.ok ? o.seq : 0));
    assert.deepEqual(
      [...written].sort((a, b) => a - b),
      Array.from({ length: 48 }, (_, i) => i + 2),
    );
    assert.deepEqual(
      await assertChain(adapter, 'q/ns'),
      Array.from({ length: 49 }, (_, i) => i + 1),
    );
    const refused = await adapter.getMany('q/ns', ['p0', 'p5', 'p1']);
    assert.deepEqual(
      refused.map((r) => r?.version),
      [undefined, undefined, 1],
    );
    await adapter.close();
  });

  test('a prune while commits are queued leaves one chain, from its checkpoint', async () => {
    const adapter = open();
    const commits = Array.from({ length: 40 }, (_, i) =>
      adapter.commit({
        namespace: 'q/prune',
        preconditions: [],
        puts: [put(`r${i}`), ...padding(`r${i}`)],
        deletes: [],
        event: event(`commit ${i}`),
      }),
    );
    await commits[9];
    const prune = adapter.pruneLedger('q/prune', 5);
    const [outcomes] = await Promise.all([Promise.all(commits), prune]);
    assert.ok(outcomes.every((o) => o.ok));
    const head = await adapter.ledgerHead('q/prune');
    assert.equal(head.seq, 40);
    assert.equal(head.checkpoint?.seq, 5);
    assert.deepEqual(
      await assertChain(adapter, 'q/prune'),
      Array.from({ length: 35 }, (_, i) => i + 6),
    );
    await adapter.close();
  });

  test('small commits made between queued ones move the head without forking the ledger', async () => {
    const adapter = open();
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        adapter.commit({
          namespace: 'q/mixed',
          preconditions: [{ path: `m${i}`, version: 0 }],
          // every other commit is small (a child transaction), the rest are queued
          puts: i % 2 === 0 ? [put(`m${i}`)] : [put(`m${i}`), ...padding(`m${i}`)],
          deletes: [],
          event: event(`commit ${i}`),
        }),
      ),
    );
    assert.ok(outcomes.every((o) => o.ok));
    assert.deepEqual(
      await assertChain(adapter, 'q/mixed'),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    await adapter.close();
  });

  test('a path LMDB cannot hold is refused before anything of its commit is written', async () => {
    const adapter = open();
    await assert.rejects(
      adapter.commit({
        namespace: 'q/long',
        preconditions: [],
        puts: [put('short'), put(`long/${'x'.repeat(3000)}`)],
        deletes: [],
        event: event('too long'),
      }),
      /too long for LMDB/,
    );
    assert.equal(await adapter.get('q/long', 'short'), undefined);
    assert.equal((await adapter.ledgerHead('q/long')).seq, 0);
    await adapter.close();
  });
});

describe('lmdb stores written by earlier builds', () => {
  test('keys of the earlier string format are rewritten on open, and read back whole and in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-'));
    dirs.push(dir);
    // As builds before key format 2 wrote them: lmdb-js string keys "namespace \x01 path", which it
    // encodes differently under and over 64 characters.
    const long = `idx/region/production/ap-south/${'x'.repeat(60)}`;
    const paths = ['flag/a', 'idx/on/production/a', long, `${long}-2`, 'state/production/a'];
    const root = open({ path: dir, maxDbs: 8 });
    const records = root.openDB<Buffer, string>({ name: 'records', useVersions: true, encoding: 'binary' });
    const counters = root.openDB<number, string>({ name: 'counters' });
    for (const ns of ['old/ns', 'old/ns-b']) {
      for (const [i, path] of paths.entries()) {
        await records.put(`${ns}\u0001${path}`, Buffer.from(path), i + 1);
        await counters.put(`${ns}\u0001${path}`, i + 10);
      }
    }
    await root.close();

    const adapter = new LmdbAdapter({ path: dir });
    const scanned = await adapter.scan('old/ns', '', { limit: 100 });
    assert.deepEqual(
      scanned.map((r) => [r.path, r.version, Buffer.from(r.value).toString()]),
      [...paths].sort().map((path) => [path, paths.indexOf(path) + 1, path]),
    );
    assert.deepEqual(
      (await adapter.scan('old/ns', 'idx/region/', { limit: 100 })).map((r) => r.path),
      [long, `${long}-2`],
    );
    assert.deepEqual(await adapter.readCounts('old/ns-b', 'idx/on/', { limit: 10 }), [
      { path: 'idx/on/production/a', count: 11 },
    ]);
    assert.equal((await adapter.get('old/ns', long))?.version, 3);
    await adapter.close();
    // Opened again: nothing left to rewrite, the same answers.
    const again = new LmdbAdapter({ path: dir });
    assert.equal((await again.scan('old/ns', '', { limit: 100 })).length, paths.length);
    await again.close();
  });
});
