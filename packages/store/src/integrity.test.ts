/**
 * Damage on disk, on real LMDB files: bytes changed inside a stored value or a ledger event are found by
 * the records' checksums and the ledger's chain, reported, kept out of answers, and fail writes closed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LmdbAdapter } from './adapters/lmdb.js';
import { actor, flag } from './conformance/fixtures.js';
import { CorruptRecordError, UnavailableError } from './errors.js';
import type { Damage } from './integrity.js';
import { decodeRecord, encodeRecord, recordDamage } from './records.js';
import { FlagStore } from './store.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A closed store holding flags in two namespaces; `write` adds what the test needs. */
async function storeWith(write: (store: FlagStore) => Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-integrity-'));
  dirs.push(dir);
  const store = new FlagStore(new LmdbAdapter({ path: dir }));
  await store.flags.putEnvironment({ name: 'production', protected: false }, actor);
  await store.flags.create(flag('damage/a/two'), actor);
  await store.flags.create(flag('damage/b/other'), actor);
  await write(store);
  await store.close();
  return dir;
}

/** Changes one character of every occurrence of `text` in the data file (JSON and msgpack stay valid). */
function changeOnDisk(dir: string, text: string): void {
  const file = join(dir, 'data.mdb');
  const bytes = readFileSync(file);
  const needle = Buffer.from(text);
  let found = 0;
  for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) {
    bytes[at + needle.length - 1] = 'z'.charCodeAt(0);
    found++;
  }
  assert.ok(found > 0, `"${text}" is in the data file`);
  writeFileSync(file, bytes);
}

describe('damage on disk', () => {
  test('a byte changed inside a record is detected: reported, left out of lists, refused when read alone, and its namespace refuses writes', async () => {
    const dir = await storeWith(async (store) => {
      await store.flags.create(flag('damage/a/one', { description: 'the needle-in-a-record' }), actor);
    });
    changeOnDisk(dir, 'needle-in-a-record');
    const store = new FlagStore(new LmdbAdapter({ path: dir }));
    const found: Damage[] = [];
    store.integrity.onDamage((damage) => found.push(damage));
    try {
      // Other records of the namespace keep being served, and so does the list.
      assert.deepEqual(
        (await store.queries.list({ prefix: 'damage/a/' })).items.map((m) => m.key),
        ['damage/a/two'],
      );
      assert.equal((await store.flags.meta('damage/a/two'))?.meta.key, 'damage/a/two');
      await assert.rejects(store.flags.meta('damage/a/one'), (error: unknown) => {
        assert.ok(error instanceof CorruptRecordError);
        assert.match(error.message, /damage\/a:flag\/one .*checksum mismatch/);
        return true;
      });
      assert.deepEqual(
        found.map((d) => [d.kind, d.namespace, d.kind === 'record' ? d.path : '']),
        [['record', 'damage/a', 'flag/one']],
      );
      assert.deepEqual(store.integrity.report().namespaces, ['damage/a']);
      // Delivery leaves the damaged flag out (reported above) and delivers the rest of the namespace.
      const delivered: string[] = [];
      for await (const page of store.delivery.flags('damage/a', 'production')) {
        delivered.push(...page.map((f) => f.key));
      }
      assert.deepEqual(delivered, ['damage/a/two']);
      assert.equal(await store.delivery.damaged('damage/a', 'production', 'one'), true);
      assert.equal(await store.delivery.damaged('damage/a', 'production', 'two'), false);
      // Fail closed: no write to the damaged namespace; others are written.
      await assert.rejects(store.flags.create(flag('damage/a/three'), actor), (error: unknown) => {
        assert.ok(error instanceof UnavailableError);
        assert.match(error.message, /"damage\/a" is refused writes: record flag\/one is damaged/);
        return true;
      });
      assert.equal((await store.flags.meta('damage/a/three')) === undefined, true);
      await store.flags.create(flag('damage/b/more'), actor);
    } finally {
      await store.close();
    }
  });

  test('a ledger whose chain does not verify is reported by verify and refuses writes to its namespace', async () => {
    const dir = await storeWith(async (store) => {
      await store.flags.create(flag('damage/a/one'), { actor: 'tester', reason: 'needle-in-the-ledger' });
    });
    changeOnDisk(dir, 'needle-in-the-ledger');
    const store = new FlagStore(new LmdbAdapter({ path: dir }));
    try {
      // Records verify: reads and writes go on until the ledger is checked.
      assert.equal((await store.flags.meta('damage/a/one'))?.meta.key, 'damage/a/one');
      const verified = await store.ledger.verify('damage/a');
      assert.equal(verified.ok, false);
      assert.match(verified.problem?.reason ?? '', /does not match its digest/);
      assert.equal((await store.ledger.verify('damage/b')).ok, true);
      await assert.rejects(
        store.flags.create(flag('damage/a/three'), actor),
        /"damage\/a" is refused writes: its ledger does not verify/,
      );
      await store.flags.create(flag('damage/b/more'), actor);
      assert.deepEqual(store.integrity.report().namespaces, ['damage/a']);
    } finally {
      await store.close();
    }
  });

  test('a damaged ledger page is reported by verify instead of taking the process down', async () => {
    const dir = await storeWith(async (store) => {
      for (let i = 0; i < 60; i++) {
        await store.flags.create(flag(`damage/p/flag-${i}`), { actor: 'tester', reason: `page-needle-${i}` });
      }
    });
    // Zeroes the page holding an event in the middle of the ledger: LMDB aborts the process reading it.
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('page-needle-30'));
    assert.ok(at > 0);
    bytes.fill(0, at - (at % 4096), at - (at % 4096) + 4096);
    writeFileSync(file, bytes);
    const store = new FlagStore(new LmdbAdapter({ path: dir }));
    try {
      const verified = await store.ledger.verify('damage/p');
      assert.equal(verified.ok, false);
      assert.match(verified.problem?.reason ?? '', /cannot be read: .*the data file has a damaged page/);
      await assert.rejects(
        store.flags.create(flag('damage/p/more'), actor),
        /"damage\/p" is refused writes: its ledger does not verify/,
      );
    } finally {
      await store.close();
    }
  });

  test('a check at start finds a damaged record before anything reads it', async () => {
    const dir = await storeWith(async (store) => {
      await store.flags.create(flag('damage/a/one', { description: 'needle-for-the-check' }), actor);
    });
    changeOnDisk(dir, 'needle-for-the-check');
    const store = new FlagStore(new LmdbAdapter({ path: dir }));
    try {
      const report = await store.check();
      assert.deepEqual(
        report.damage.map((d) => [d.kind, d.namespace]),
        [
          ['record', 'damage/a'],
          ['ledger', 'damage/a'],
        ],
      );
      assert.deepEqual(report.namespaces, ['damage/a']);
    } finally {
      await store.close();
    }
  });

  test('a check at start reports a damaged page without reading it in the process, and fails every write closed', async () => {
    const dir = await storeWith(async (store) => {
      for (let i = 0; i < 60; i++) {
        await store.flags.create(flag(`damage/p/flag-${i}`), { actor: 'tester', reason: `page-needle-${i}` });
      }
    });
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('page-needle-30'));
    bytes.fill(0, at - (at % 4096), at - (at % 4096) + 4096);
    writeFileSync(file, bytes);
    const store = new FlagStore(new LmdbAdapter({ path: dir }));
    try {
      const report = await store.check();
      assert.deepEqual(report.namespaces, ['*']);
      assert.match(report.damage[0]?.detail ?? '', /damaged page/);
      await assert.rejects(
        store.flags.create(flag('damage/b/more'), actor),
        /"damage\/b" is refused writes: the store's files are damaged/,
      );
    } finally {
      await store.close();
    }
  });

  test('records carry a checksum; records written before checksums still load', () => {
    const bytes = encodeRecord({ a: 'value' });
    assert.equal(recordDamage(bytes), undefined);
    assert.deepEqual(decodeRecord('n/s', 'p', bytes), { a: 'value' });
    const changed = Buffer.from(bytes);
    changed[8] = changed[8]! ^ 1;
    assert.match(recordDamage(changed) ?? '', /checksum mismatch/);
    assert.throws(() => decodeRecord('n/s', 'p', changed), CorruptRecordError);
    // As written before checksums: the JSON text alone.
    assert.deepEqual(decodeRecord('n/s', 'p', Buffer.from('{"_v":1,"a":"value"}')), { a: 'value' });
  });
});
