import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { runConformanceSuite } from '../conformance/suite.js';
import { GENESIS } from '../ledger.js';
import { startRedisCluster, startRedisStandalone } from '../testing/redis-servers.js';
import { RedisAdapter } from './redis.js';
import { COMMIT, packCommit } from './redis-scripts.js';

const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

runConformanceSuite({
  name: 'redis standalone',
  async open() {
    const server = await startRedisStandalone();
    stops.push(() => server.stop());
    return new RedisAdapter({ url: server.url });
  },
});

runConformanceSuite({
  name: 'redis cluster (3 masters, 3 replicas)',
  async open() {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    stops.push(() => cluster.stop());
    return new RedisAdapter({ url: cluster.url, waitReplicas: 1 });
  },
});

describe('redis key layout', () => {
  test('marks an empty Redis with its layout, and refuses one holding data of layout 1', async () => {
    const server = await startRedisStandalone();
    stops.push(() => server.stop());
    const fresh = new RedisAdapter({ url: server.url });
    assert.equal(await fresh.get('layout/ns', 'flag/x'), undefined);
    const raw = new Redis(server.url);
    assert.equal(await raw.get('sy:layout'), '2');

    // What layout 1 left: a namespace registered and its records in keys of their own, no layout key.
    await raw.zadd('old:ns', 0, 'layout/ns');
    await raw.set('old:{layout/ns}:r:flag/x', '1:{"_v":1}');
    const old = new RedisAdapter({ url: server.url, keyPrefix: 'old' });
    await assert.rejects(
      old.get('layout/ns', 'flag/x'),
      /key layout 1 \(prefix "old"\).*reads layout 2 only/,
    );
    await assert.rejects(
      old.commit({
        namespace: 'layout/ns',
        preconditions: [],
        puts: [{ path: 'flag/y', version: 1, value: new Uint8Array([1]) }],
        deletes: [],
        event: { digest: '0'.repeat(64), body: new Uint8Array([1]) },
      }),
      /key layout 1/,
    );
    assert.equal(await raw.hlen('old:{layout/ns}:r'), 0, 'nothing written over the old data');
    await Promise.all([fresh.close(), old.close()]);
    raw.disconnect();
  });
});

describe('packCommit', () => {
  /** Reads the packed fields back as the commit script does: a 4-byte length, then the bytes. */
  function fields(packed: Buffer): string[] {
    const out: string[] = [];
    for (let at = 0; at < packed.length; ) {
      const n = packed.readUInt32BE(at);
      out.push(packed.toString('utf8', at + 4, at + 4 + n));
      at += 4 + n;
    }
    return out;
  }

  test('packs counts, paths, versions and values whole, at the largest safe version', () => {
    const big = Number.MAX_SAFE_INTEGER;
    const packed = packCommit(
      [{ path: 'flag/é', version: big }],
      [
        { path: 'state/p/é', version: big, value: new TextEncoder().encode('{"a":"ü"}') },
        { path: 'idx/x', version: 0, value: new Uint8Array() },
      ],
      ['gone/1'],
    );
    assert.deepEqual(fields(packed), [
      '1',
      '2',
      '1',
      'flag/é',
      String(big),
      'state/p/é',
      `${big}:{"a":"ü"}`,
      'idx/x',
      '0:',
      'gone/1',
    ]);
  });
});

describe('redis commit script', () => {
  test('applies a commit re-sent after a lost reply once, also after later commits', async () => {
    const server = await startRedisStandalone();
    stops.push(() => server.stop());
    const raw = new Redis(server.url);
    raw.defineCommand('sycommit', { numberOfKeys: 4, lua: COMMIT });
    const keys = ['sy:{t}:h', 'sy:{t}:k', 'sy:{t}:l', 'sy:{t}:r'];
    // What a client sends for commit `id` on the head it expects: the same bytes each time it is re-sent.
    const send = (seq: number, hash: string, id: string) =>
      (raw as unknown as { sycommit(...args: (string | number | Buffer)[]): Promise<string[]> }).sycommit(
        ...keys,
        seq,
        hash,
        `hash-${id}`,
        'digest',
        'body',
        'sy:commits',
        't',
        GENESIS,
        packCommit([], [{ path: `p/${id}`, version: 1, value: new TextEncoder().encode(id) }], []),
        'sy:{t}:f',
        id,
      );
    assert.deepEqual(await send(0, GENESIS, 'a'), ['ok', '1']);
    assert.deepEqual(await send(0, GENESIS, 'a'), ['done', '1']);
    assert.deepEqual(await send(1, 'hash-a', 'b'), ['ok', '2']);
    assert.deepEqual(await send(0, GENESIS, 'a'), ['done', '1'], 'a re-send after a later commit');
    assert.deepEqual(await send(1, 'hash-a', 'c'), ['head', '2', 'hash-b'], 'another commit on a stale head');
    assert.equal(await raw.xlen('sy:{t}:l'), 2);
    assert.deepEqual(await raw.hkeys('sy:{t}:r'), ['p/a', 'p/b']);
    raw.disconnect();
  });
});
