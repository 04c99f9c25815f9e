/**
 * The write path's promises about what idempotency records keep (real LMDB files, read as raw bytes)
 * and about the size of what enters the ledger.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LmdbAdapter } from './adapters/lmdb.js';
import { IdempotencyMismatchError, StoreValidationError } from './errors.js';
import { keyring } from './sensitive.js';
import { FlagStore } from './store.js';
import type { TokenRecord } from './tokens.js';
import { MAX_REASON_CHARS } from './writer.js';

const SECRET = 'pk_live_idempotent-secret-value';
const TOKEN_VALUE = 'sy_0123456789abcdef_token-value-that-must-never-be-readable-on-disk';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function openStore(keys: Buffer[] | undefined) {
  const path = mkdtempSync(join(tmpdir(), 'switchyard-writer-'));
  dirs.push(path);
  const store = new FlagStore(
    new LmdbAdapter({ path }),
    keys === undefined ? {} : { encryptionKeys: keyring(keys) },
  );
  return { store, path };
}

const onDisk = (dir: string) => Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));

const sensitiveFlag = {
  key: 'payments/keys/processor',
  type: 'string',
  sensitive: true,
  variations: { live: SECRET, test: 'pk_test_harmless' },
  environments: {},
};

const token = (id: string): Omit<TokenRecord, 'createdAt' | 'createdBy' | 'revokedAt'> => ({
  id,
  name: 'deploy bot',
  secretHash: 'ab'.repeat(32),
  role: 'editor',
  scopes: { namespaces: [], environments: [] },
});

describe('idempotency records', () => {
  it('keep a sensitive flag created under an Idempotency-Key sealed: no plaintext in the LMDB file', async () => {
    const { store, path } = openStore([randomBytes(32)]);
    const context = { actor: 'test', idempotencyKey: 'create-processor' };
    const first = await store.flags.create(sensitiveFlag, context);
    const again = await store.flags.create(sensitiveFlag, context);
    assert.equal(again.meta.variations.live, SECRET, 'a retry answers the first result, opened');
    assert.equal(again.meta.version, first.meta.version);
    await store.close();
    assert.equal(onDisk(path).includes(Buffer.from(SECRET)), false, 'the value is nowhere on disk');
    assert.equal(onDisk(path).includes(Buffer.from('pk_test_harmless')), false);
  });

  it('answer a retried token creation with the same record and value, kept sealed', async () => {
    const { store, path } = openStore([randomBytes(32)]);
    const context = { actor: 'admin', idempotencyKey: 'mint-deploy-bot' };
    const first = await store.tokens.create(token('0000000000000001'), context, TOKEN_VALUE);
    // A retry makes up another id and value; the first ones are answered.
    const again = await store.tokens.create(token('0000000000000002'), context, 'sy_other');
    assert.equal(again.id, first.id);
    assert.equal(again.value, TOKEN_VALUE);
    assert.equal(await store.tokens.get('0000000000000002'), undefined, 'no second token');
    await store.close();
    assert.equal(onDisk(path).includes(Buffer.from(TOKEN_VALUE)), false);
  });

  it('without a keyring, keep no token value and refuse its retry rather than answer another token', async () => {
    const { store, path } = openStore(undefined);
    const context = { actor: 'admin', idempotencyKey: 'mint-deploy-bot' };
    await store.tokens.create(token('0000000000000001'), context, TOKEN_VALUE);
    await assert.rejects(
      store.tokens.create(token('0000000000000002'), context, 'sy_other'),
      (e: Error) => e instanceof IdempotencyMismatchError && /SWITCHYARD_MASTER_KEY/.test(e.message),
    );
    await assert.rejects(
      store.tokens.create({ ...token('0000000000000003'), role: 'admin' }, context, 'sy_third'),
      /already used for a different request/,
    );
    await store.close();
    assert.equal(onDisk(path).includes(Buffer.from(TOKEN_VALUE)), false);
  });
});

describe('change reasons', () => {
  it(`refuse a reason over ${MAX_REASON_CHARS} characters, and the ledger stays as it was`, async () => {
    const { store } = openStore(undefined);
    await store.flags.putEnvironment({ name: 'production', protected: true }, { actor: 'test' });
    const head = await store.adapter.ledgerHead('payments/keys');
    const flag = { ...sensitiveFlag, sensitive: false, key: 'payments/keys/plain' };
    await assert.rejects(
      store.flags.create(flag, { actor: 'test', reason: 'x'.repeat(MAX_REASON_CHARS + 1) }),
      (e: Error) => e instanceof StoreValidationError && /at most 1000 characters/.test(e.message),
    );
    assert.deepEqual(await store.adapter.ledgerHead('payments/keys'), head);
    await store.flags.create(flag, { actor: 'test', reason: 'x'.repeat(MAX_REASON_CHARS) });
    await store.close();
  });
});
