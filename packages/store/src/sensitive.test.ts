import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LmdbAdapter } from './adapters/lmdb.js';
import { InvalidOperationError } from './errors.js';
import { decodeRecord, encodeRecord, paths } from './records.js';
import { keyring, parseKey, SealedValueError } from './sensitive.js';
import { FlagStore } from './store.js';

const SECRET = 'pk_live_51Hx-very-secret-value';
const actor = { actor: 'test' };
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sensitiveFlag = {
  key: 'payments/keys/processor',
  type: 'string',
  sensitive: true,
  variations: { live: SECRET, test: 'pk_test_harmless' },
  environments: {},
};

async function openStore(keys: Buffer[] | undefined, dir?: string) {
  const path = dir ?? mkdtempSync(join(tmpdir(), 'switchyard-sensitive-'));
  if (dir === undefined) dirs.push(path);
  const store = new FlagStore(
    new LmdbAdapter({ path }),
    keys === undefined ? {} : { encryptionKeys: keyring(keys) },
  );
  if ((await store.flags.environments()).length === 0) {
    await store.flags.putEnvironment({ name: 'production', protected: true }, actor);
  }
  return { store, path };
}

const onDisk = (dir: string) => Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));

describe('sensitive variation values', () => {
  it('keeps no plaintext at rest, in records or the ledger, and reads it back in the clear', async () => {
    const key = randomBytes(32);
    const { store, path } = await openStore([key]);
    await store.flags.create(sensitiveFlag, actor);
    await store.flags.updateMeta('payments/keys/processor', 1, { description: 'processor keys' }, actor);
    assert.equal((await store.flags.get('payments/keys/processor'))!.meta.variations.live, SECRET);
    const page = await store.queries.list({ prefix: 'payments/' });
    assert.equal(page.items[0]!.variations.live, SECRET);
    const events = await store.ledger.events('payments/keys', 1, 10);
    assert.ok(events.every((e) => !JSON.stringify(e).includes(SECRET)));
    assert.equal((events[0]!.patch as { variations: Record<string, string> }).variations.live, '[sensitive]');
    await store.close();
    assert.equal(
      onDisk(path).includes(Buffer.from(SECRET)),
      false,
      'the secret is nowhere in the database files',
    );
    assert.equal(onDisk(path).includes(Buffer.from('pk_test_harmless')), false);
  });

  it('refuses a sensitive flag when the store has no key, and says which key it needs when it has another', async () => {
    const { store: keyless } = await openStore(undefined);
    await assert.rejects(keyless.flags.create(sensitiveFlag, actor), InvalidOperationError);
    await keyless.close();
    const first = await openStore([randomBytes(32)]);
    await first.store.flags.create(sensitiveFlag, actor);
    await first.store.close();
    const other = await openStore([randomBytes(32)], first.path);
    await assert.rejects(
      other.store.flags.get('payments/keys/processor'),
      (e: Error) =>
        e instanceof SealedValueError &&
        /encrypted with key [0-9a-f]{16}, which this server was not given/.test(e.message),
    );
    await other.store.close();
  });

  it('rotates keys: old values open with the old key, and a write reseals them with the new one', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const first = await openStore([oldKey]);
    await first.store.flags.create(sensitiveFlag, actor);
    await first.store.close();
    const rotating = await openStore([newKey, oldKey], first.path);
    assert.equal((await rotating.store.flags.get('payments/keys/processor'))!.meta.variations.live, SECRET);
    await rotating.store.flags.updateMeta('payments/keys/processor', 1, { owner: 'team-payments' }, actor);
    await rotating.store.close();
    const rotated = await openStore([newKey], first.path);
    assert.equal((await rotated.store.flags.get('payments/keys/processor'))!.meta.variations.live, SECRET);
    await rotated.store.close();
  });

  it('detects a sealed value moved to another variation', async () => {
    const { store } = await openStore([randomBytes(32)]);
    await store.flags.create(sensitiveFlag, actor);
    const raw = await store.adapter.get('payments/keys', paths.flag('processor'));
    const meta = decodeRecord<{ variations: Record<string, unknown> }>(
      'payments/keys',
      raw!.path,
      raw!.value,
    );
    const swapped = { ...meta, variations: { live: meta.variations.test, test: meta.variations.live } };
    const body = encodeRecord({ swap: true });
    await store.adapter.commit({
      namespace: 'payments/keys',
      preconditions: [],
      puts: [{ path: paths.flag('processor'), version: raw!.version, value: encodeRecord(swapped) }],
      deletes: [],
      event: { digest: (await import('./ledger.js')).digestOf(body), body },
    });
    await assert.rejects(store.flags.get('payments/keys/processor'), /does not decrypt/);
    await store.close();
  });

  it('reads keys as 64 hex digits or base64, and refuses other lengths', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseKey(key.toString('hex')), key);
    assert.deepEqual(parseKey(key.toString('base64')), key);
    assert.throws(() => parseKey('abcd'), /32 bytes/);
  });
});
