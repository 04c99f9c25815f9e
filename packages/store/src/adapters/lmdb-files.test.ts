import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { actor, flag } from '../conformance/fixtures.js';
import { FlagStore } from '../store.js';
import { LmdbAdapter } from './lmdb.js';
import { DataFileError, MARKER } from './lmdb-files.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A closed store on real files holding an environment and a few flags. */
async function storeWithData(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-files-'));
  dirs.push(dir);
  const store = new FlagStore(new LmdbAdapter({ path: dir }));
  await store.flags.putEnvironment({ name: 'production', protected: false }, actor);
  for (let i = 0; i < 30; i++) {
    await store.flags.create(flag(`files/test/flag-${i}`, { description: 'x'.repeat(2000) }), actor);
  }
  await store.close();
  return dir;
}

const refusal = (pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof DataFileError, String(error));
  assert.match(error.message, pattern);
  assert.doesNotMatch(error.message, /\n/, 'one line');
  return true;
};

describe('lmdb data files, checked before they are mapped', () => {
  test('a new store writes its marker once and opens again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-files-'));
    dirs.push(dir);
    await new LmdbAdapter({ path: dir }).close();
    assert.ok(existsSync(join(dir, MARKER)));
    const before = statSync(join(dir, MARKER)).mtimeMs;
    await new LmdbAdapter({ path: dir }).close();
    assert.equal(statSync(join(dir, MARKER)).mtimeMs, before);
  });

  test('refuses to start as an empty store when the data file that held data was truncated to 0 bytes', async () => {
    const dir = await storeWithData();
    truncateSync(join(dir, 'data.mdb'), 0);
    assert.throws(
      () => new LmdbAdapter({ path: dir }),
      refusal(/data\.mdb is empty but .*store\.json says store/),
    );
  });

  test('refuses to start as an empty store when the data file was deleted', async () => {
    const dir = await storeWithData();
    unlinkSync(join(dir, 'data.mdb'));
    assert.throws(() => new LmdbAdapter({ path: dir }), refusal(/data\.mdb is missing/));
  });

  test('refuses a half-truncated data file with a clear reason instead of crashing on it', async () => {
    const dir = await storeWithData();
    const file = join(dir, 'data.mdb');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    assert.throws(() => new LmdbAdapter({ path: dir }), refusal(/was truncated/));
  });

  test('refuses zeroed meta pages with a clear reason instead of crashing on them', async () => {
    const dir = await storeWithData();
    const fd = openSync(join(dir, 'data.mdb'), 'r+');
    writeSync(fd, Buffer.alloc(8192), 0, 8192, 0);
    closeSync(fd);
    assert.throws(
      () => new LmdbAdapter({ path: dir }),
      refusal(/not a readable LMDB file \(first meta page: magic 0/),
    );
  });
});
