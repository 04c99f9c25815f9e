/**
 * The conformance suite every adapter runs (the adapter's test file calls `runConformanceSuite`). It
 * checks the contract — atomic commits, preconditions, the gap-free ledger, scans, notifications — and
 * the whole store built on the adapter. An adapter may skip a test only with a stated reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagDocument } from '@switchyard/core';
import type { StoreAdapter } from '../contract.js';
import {
  ConflictError,
  CorruptRecordError,
  IdempotencyMismatchError,
  InvalidOperationError,
  StoreValidationError,
} from '../errors.js';
import { digestOf, GENESIS } from '../ledger.js';
import { encodeRecord, paths } from '../records.js';
import { FlagStore } from '../store.js';
import type { ChangeContext } from '../writer.js';

export interface ConformanceHarness {
  name: string;
  /** A fresh, empty adapter; the suite closes it. */
  open(): Promise<StoreAdapter>;
  /** Test names to skip, each with the reason. */
  skip?: Record<string, string>;
}

const actor: ChangeContext = { actor: 'tester' };
const encoder = new TextEncoder();

function event(text: string) {
  const body = encoder.encode(text);
  return { digest: digestOf(body), body };
}

function flag(
  key: string,
  extra: Partial<FlagDocument> = {},
  production: Record<string, unknown> = {},
): FlagDocument {
  return {
    key,
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { production: { enabled: true, offVariation: 'off', default: 'on', ...production } },
    ...extra,
  } as FlagDocument;
}

export function runConformanceSuite(harness: ConformanceHarness): void {
  const skip = harness.skip ?? {};
  const test = (name: string, body: () => Promise<void>) =>
    skip[name] === undefined ? it(name, body) : it(name, { skip: skip[name] }, body);

  describe(`store conformance: ${harness.name}`, () => {
    let adapter: StoreAdapter;
    let store: FlagStore;
    let clock = Date.parse('2026-11-24T12:00:00Z');

    before(async () => {
      adapter = await harness.open();
      store = new FlagStore(adapter, { clock: () => clock, historyLimit: 5, feedPollIntervalMs: 50 });
      for (const name of ['development', 'staging', 'production']) {
        await store.flags.putEnvironment({ name, protected: name === 'production' }, actor);
      }
    });
    after(async () => {
      await store.close();
    });

    describe('adapter contract', () => {
      test('commits records and an event atomically, and reads them back with versions', async () => {
        const outcome = await adapter.commit({
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
        const [a, b, c] = await adapter.getMany('conf/commit', ['a', 'b', 'c']);
        assert.deepEqual([a?.version, Buffer.from(a!.value).toString()], [1, 'one']);
        assert.deepEqual([b?.version, Buffer.from(b!.value).toString()], [0, 'two']);
        assert.equal(c, undefined);
        assert.equal(await adapter.get('conf/other', 'a'), undefined);
      });

      test('changes nothing when a precondition fails, and names it', async () => {
        const head = await adapter.ledgerHead('conf/commit');
        const outcome = await adapter.commit({
          namespace: 'conf/commit',
          preconditions: [{ path: 'a', version: 7 }],
          puts: [{ path: 'z', version: 1, value: encoder.encode('never') }],
          deletes: ['b'],
          event: event('rejected'),
        });
        assert.deepEqual(outcome, { ok: false, path: 'a', expected: 7, actual: 1 });
        assert.equal(await adapter.get('conf/commit', 'z'), undefined);
        assert.notEqual(await adapter.get('conf/commit', 'b'), undefined);
        assert.deepEqual(await adapter.ledgerHead('conf/commit'), head);
      });

      test('numbers events per namespace without gaps and chains their hashes', async () => {
        for (let i = 0; i < 5; i++) {
          await adapter.commit({
            namespace: 'conf/ledger-a',
            preconditions: [],
            puts: [],
            deletes: [],
            event: event(`a${i}`),
          });
        }
        await adapter.commit({
          namespace: 'conf/ledger-b',
          preconditions: [],
          puts: [],
          deletes: [],
          event: event('b0'),
        });
        const entries = await adapter.readLedger('conf/ledger-a', 1, 100);
        assert.deepEqual(
          entries.map((e) => e.seq),
          [1, 2, 3, 4, 5],
        );
        assert.equal(entries[0]!.prevHash, GENESIS);
        for (let i = 1; i < entries.length; i++) assert.equal(entries[i]!.prevHash, entries[i - 1]!.hash);
        assert.equal(Buffer.from(entries[2]!.body).toString(), 'a2');
        assert.equal((await adapter.ledgerHead('conf/ledger-a')).hash, entries[4]!.hash);
        assert.equal((await adapter.ledgerHead('conf/ledger-b')).seq, 1);
        assert.deepEqual(
          (await adapter.readLedger('conf/ledger-a', 4, 1)).map((e) => e.seq),
          [4],
        );
      });

      test('scans a prefix in path order from a cursor, and lists namespaces', async () => {
        const puts = ['x/3', 'x/1', 'x/2', 'y/1', 'x10'].map((path) => ({
          path,
          version: 0,
          value: encoder.encode(path),
        }));
        await adapter.commit({
          namespace: 'conf/scan',
          preconditions: [],
          puts,
          deletes: [],
          event: event('scan'),
        });
        const all = await adapter.scan('conf/scan', 'x/', { limit: 10 });
        assert.deepEqual(
          all.map((r) => r.path),
          ['x/1', 'x/2', 'x/3'],
        );
        const page = await adapter.scan('conf/scan', 'x/', { after: 'x/1', limit: 1 });
        assert.deepEqual(
          page.map((r) => r.path),
          ['x/2'],
        );
        const spaces = await adapter.namespaces('conf/', { limit: 100 });
        assert.ok(
          ['conf/commit', 'conf/ledger-a', 'conf/ledger-b', 'conf/scan'].every((n) => spaces.includes(n)),
        );
        assert.deepEqual(spaces, [...spaces].sort());
        assert.deepEqual(await adapter.namespaces('conf/ledger', { after: 'conf/ledger-a', limit: 5 }), [
          'conf/ledger-b',
        ]);
      });

      test('deletes records in a commit', async () => {
        await adapter.commit({
          namespace: 'conf/scan',
          preconditions: [],
          puts: [],
          deletes: ['x/2'],
          event: event('del'),
        });
        assert.equal(await adapter.get('conf/scan', 'x/2'), undefined);
      });

      test('lets exactly one of 16 concurrent commits with the same precondition through', async () => {
        const outcomes = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            adapter.commit({
              namespace: 'conf/race',
              preconditions: [{ path: 'only', version: 0 }],
              puts: [{ path: 'only', version: 1, value: encoder.encode(String(i)) }],
              deletes: [],
              event: event(`race ${i}`),
            }),
          ),
        );
        assert.equal(outcomes.filter((o) => o.ok).length, 1);
        assert.equal((await adapter.ledgerHead('conf/race')).seq, 1);
      });

      test('notifies watchers of durable commits', async () => {
        const seen: [string, number][] = [];
        const stop = adapter.watch((namespace, seq) => seen.push([namespace, seq]));
        await adapter.commit({
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

      test('prunes the ledger to a checkpoint that keeps the chain verifiable', async () => {
        for (let i = 0; i < 6; i++) {
          await adapter.commit({
            namespace: 'conf/prune',
            preconditions: [],
            puts: [],
            deletes: [],
            event: event(`p${i}`),
          });
        }
        const fourth = (await adapter.readLedger('conf/prune', 4, 1))[0]!;
        await adapter.pruneLedger('conf/prune', 4);
        const head = await adapter.ledgerHead('conf/prune');
        assert.deepEqual(head.checkpoint, { seq: 4, hash: fourth.hash });
        assert.deepEqual(
          (await adapter.readLedger('conf/prune', 1, 10)).map((e) => e.seq),
          [5, 6],
        );
        assert.equal((await store.ledger.verify('conf/prune')).ok, true);
      });
    });

    describe('flags', () => {
      test('creates a flag with a state in every environment, at version 1', async () => {
        const view = await store.flags.create(flag('conf/flags/basic', { tags: ['web'] }), actor);
        assert.deepEqual(Object.keys(view.states).sort(), ['development', 'production', 'staging']);
        assert.equal(view.states.production!.version, 1);
        assert.equal(view.states.production!.state.enabled, true);
        assert.equal(view.states.staging!.state.enabled, false, 'unmentioned environments start off');
        assert.equal(view.meta.createdBy, 'tester');
        const again = await store.flags.get('conf/flags/basic');
        assert.deepEqual(again, view);
      });

      test('refuses a duplicate key, an invalid document and an unknown environment', async () => {
        await assert.rejects(store.flags.create(flag('conf/flags/basic'), actor), ConflictError);
        await assert.rejects(
          store.flags.create(flag('conf/flags/bad', {}, { offVariation: 'of' }), actor),
          (e: StoreValidationError) =>
            e instanceof StoreValidationError &&
            /environments\.production\.offVariation: unknown variation "of"/.test(e.message),
        );
        await assert.rejects(
          store.flags.create(
            flag('conf/flags/elsewhere', {
              environments: { qa: { enabled: true, offVariation: 'off', default: 'on' } },
            }),
            actor,
          ),
          InvalidOperationError,
        );
        assert.equal(await store.flags.get('conf/flags/bad'), undefined);
      });

      test('creates many flags per namespace in batches, one import event per batch, all or nothing per batch', async () => {
        const docs = ['conf/bulk-a/one', 'conf/bulk-a/two', 'conf/bulk-a/three', 'conf/bulk-b/one'].map((k) =>
          flag(k),
        );
        assert.equal(await store.flags.createMany(docs, actor, 2), 4);
        assert.equal((await store.flags.get('conf/bulk-a/three'))!.states.production!.version, 1);
        const events = await store.ledger.events('conf/bulk-a', 1, 10);
        assert.deepEqual(
          events.map((e) => [e.action, (e.patch as unknown[]).length]),
          [
            ['flag.import', 2],
            ['flag.import', 1],
          ],
        );
        await assert.rejects(
          store.flags.createMany([flag('conf/bulk-b/fresh'), flag('conf/bulk-b/one')], actor),
          /flag "conf\/bulk-b\/one" already exists/,
        );
        assert.equal(await store.flags.get('conf/bulk-b/fresh'), undefined, 'a failed batch writes nothing');
        await assert.rejects(
          store.flags.createMany(
            [flag('conf/bulk-b/ok'), flag('conf/bulk-b/bad', {}, { offVariation: 'nope' })],
            actor,
          ),
          /conf\/bulk-b\/bad environments\.production\.offVariation/,
        );
        assert.equal(
          await store.flags.get('conf/bulk-b/ok'),
          undefined,
          'an invalid document stops the call before any write',
        );
      });

      test('changes a state only at the expected version, keeping the previous one in history', async () => {
        const updated = await store.flags.updateState(
          'conf/flags/basic',
          'production',
          { expectedVersion: 1, state: (s) => ({ ...s, enabled: false }) },
          actor,
        );
        assert.equal(updated.version, 2);
        const head = await adapter.ledgerHead('conf/flags');
        await assert.rejects(
          store.flags.updateState(
            'conf/flags/basic',
            'production',
            { expectedVersion: 1, state: (s) => s },
            actor,
          ),
          (e: ConflictError) =>
            e instanceof ConflictError && e.actual === 2 && /at version 2, not 1/.test(e.message),
        );
        assert.deepEqual(await adapter.ledgerHead('conf/flags'), head, 'a conflict writes no event');
        const history = await store.flags.history('conf/flags/basic', 'production', { limit: 10 });
        assert.deepEqual(
          history.map((h) => [h.version, h.state.enabled]),
          [[1, true]],
        );
      });

      test('rolls back to an earlier version as a new version', async () => {
        const rolled = await store.flags.rollback('conf/flags/basic', 'production', 1, 2, actor);
        assert.equal(rolled.version, 3);
        assert.equal(rolled.state.enabled, true);
        const events = await store.ledger.events('conf/flags', 1, 100);
        const last = events[events.length - 1]!;
        assert.deepEqual(
          [last.action, last.fromVersion, last.toVersion, last.actor],
          ['state.rollback', 2, 3, 'tester'],
        );
      });

      test('keeps only the configured number of earlier states', async () => {
        for (let i = 0; i < 8; i++) {
          await store.flags.updateState(
            'conf/flags/basic',
            'development',
            { state: (s) => ({ ...s, enabled: !s.enabled }) },
            actor,
          );
        }
        const history = await store.flags.history('conf/flags/basic', 'development', { limit: 100 });
        assert.deepEqual(
          history.map((h) => h.version),
          [8, 7, 6, 5, 4],
        );
      });

      test('answers a repeated idempotency key with the first result and refuses it for another request', async () => {
        const context = { ...actor, idempotencyKey: 'create-once' };
        const first = await store.flags.create(flag('conf/flags/idem'), context);
        const head = await adapter.ledgerHead('conf/flags');
        const second = await store.flags.create(flag('conf/flags/idem'), context);
        assert.deepEqual(second, first);
        assert.deepEqual(await adapter.ledgerHead('conf/flags'), head);
        await assert.rejects(
          store.flags.create(flag('conf/flags/idem-other'), context),
          IdempotencyMismatchError,
        );
      });

      test('archives, restores, and deletes only archived flags', async () => {
        await store.flags.create(flag('conf/flags/old'), actor);
        await assert.rejects(store.flags.delete('conf/flags/old', actor), InvalidOperationError);
        const archived = await store.flags.archive('conf/flags/old', actor);
        assert.ok(archived.archivedAt);
        await assert.rejects(
          store.flags.updateState('conf/flags/old', 'production', { state: (s) => s }, actor),
          InvalidOperationError,
        );
        await store.flags.restore('conf/flags/old', actor);
        await store.flags.archive('conf/flags/old', actor);
        await store.flags.delete('conf/flags/old', actor);
        assert.equal(await store.flags.get('conf/flags/old'), undefined);
        const actions = (await store.ledger.events('conf/flags', 1, 1000))
          .filter((e) => e.flag === 'conf/flags/old')
          .map((e) => e.action);
        assert.deepEqual(actions, [
          'flag.create',
          'flag.archive',
          'flag.restore',
          'flag.archive',
          'flag.delete',
        ]);
      });

      test('checks prerequisites against the stored flags: existence and cycles', async () => {
        await store.flags.create(flag('conf/prereq/base'), actor);
        await store.flags.create(
          flag('conf/prereq/child', {}, { prerequisites: [{ flag: 'conf/prereq/base', variation: 'on' }] }),
          actor,
        );
        await assert.rejects(
          store.flags.create(
            flag(
              'conf/prereq/orphan',
              {},
              { prerequisites: [{ flag: 'conf/prereq/missing', variation: 'on' }] },
            ),
            actor,
          ),
          /prerequisite flag "conf\/prereq\/missing" does not exist/,
        );
        await assert.rejects(
          store.flags.updateState(
            'conf/prereq/base',
            'production',
            { state: (s) => ({ ...s, prerequisites: [{ flag: 'conf/prereq/child', variation: 'on' }] }) },
            actor,
          ),
          /prerequisites form a cycle: conf\/prereq\/base → conf\/prereq\/child → conf\/prereq\/base/,
        );
      });

      test('gives 16 concurrent writers on one flag distinct, consecutive versions and loses no update', async () => {
        await store.flags.create(
          flag(
            'conf/race/counter',
            { type: 'number', variations: { v: 0 } },
            { offVariation: 'v', default: 'v' },
          ),
          actor,
        );
        const versions: number[] = [];
        await Promise.all(
          Array.from({ length: 16 }, async (_, writer) => {
            for (let done = 0; done < 5; ) {
              const current = await store.flags.state('conf/race/counter', 'production');
              try {
                const next = await store.flags.updateState(
                  'conf/race/counter',
                  'production',
                  {
                    expectedVersion: current!.version,
                    state: (s) => ({ ...s, targets: { v: [...(s.targets?.v ?? []), `w${writer}-${done}`] } }),
                  },
                  actor,
                );
                versions.push(next.version);
                done++;
              } catch (error) {
                if (!(error instanceof ConflictError)) throw error;
              }
            }
          }),
        );
        assert.deepEqual(
          [...versions].sort((a, b) => a - b),
          Array.from({ length: 80 }, (_, i) => i + 2),
        );
        const final = await store.flags.state('conf/race/counter', 'production');
        assert.equal(final!.state.targets!.v!.length, 80, 'every write is in the final state');
      });

      test('reports a damaged or newer-format record as such, without crashing', async () => {
        await adapter.commit({
          namespace: 'conf/corrupt',
          preconditions: [],
          puts: [
            { path: paths.flag('truncated'), version: 1, value: encoder.encode('{"_v":1,"key":"conf/cor') },
            { path: paths.flag('future'), version: 1, value: encodeRecord({ key: 'x' }).slice(0, 0) },
            {
              path: paths.flag('newer'),
              version: 1,
              value: encoder.encode('{"_v":9,"key":"conf/corrupt/newer"}'),
            },
          ],
          deletes: [],
          event: event('damage'),
        });
        await assert.rejects(
          store.flags.get('conf/corrupt/truncated'),
          (e: Error) => e instanceof CorruptRecordError && /not valid JSON/.test(e.message),
        );
        await assert.rejects(store.flags.get('conf/corrupt/future'), CorruptRecordError);
        await assert.rejects(
          store.flags.get('conf/corrupt/newer'),
          /record schema version 9, newer than this Switchyard reads/,
        );
      });
    });

    describe('segments and tokens', () => {
      test('keeps segments per environment, versioned, and lets flags reference them', async () => {
        const created = await store.segments.create(
          { kind: 'segment', key: 'conf/seg/beta', environments: { production: { included: ['u1'] } } },
          actor,
        );
        assert.deepEqual(created.states.production!.state, { included: ['u1'], version: 1 });
        assert.deepEqual(created.states.staging!.state, { version: 1 });
        const updated = await store.segments.updateState(
          'conf/seg/beta',
          'production',
          1,
          { included: ['u1', 'u2'] },
          actor,
        );
        assert.equal(updated.version, 2);
        await assert.rejects(
          store.segments.updateState('conf/seg/beta', 'production', 1, {}, actor),
          ConflictError,
        );
        const rule = { id: 'beta', when: [{ op: 'inSegment', values: ['conf/seg/beta'] }], serve: 'on' };
        await store.flags.create(flag('conf/seg/uses-beta', {}, { rules: [rule] }), actor);
        const missing = {
          id: 'gone',
          when: [{ op: 'inSegment', values: ['conf/seg/missing'] }],
          serve: 'on',
        };
        await assert.rejects(
          store.flags.create(flag('conf/seg/uses-missing', {}, { rules: [missing] }), actor),
          /segment "conf\/seg\/missing" does not exist/,
        );
        await store.segments.delete('conf/seg/beta', actor);
        assert.equal(await store.segments.get('conf/seg/beta'), undefined);
      });

      test('stores API tokens by hash only, lists and revokes them, and keeps the hash out of the ledger', async () => {
        const token = await store.tokens.create(
          {
            id: 'tok1',
            name: 'ci',
            secretHash: 'a'.repeat(64),
            role: 'editor',
            scopes: { namespaces: ['conf/'] },
          },
          actor,
        );
        assert.equal(token.secretHash, 'a'.repeat(64));
        assert.deepEqual(
          (await store.tokens.list({ limit: 10 })).map((t) => t.id),
          ['tok1'],
        );
        const revoked = await store.tokens.revoke('tok1', actor);
        assert.ok(revoked.revokedAt);
        assert.ok((await store.tokens.get('tok1'))!.revokedAt);
        const events = await store.ledger.events('switchyard/system', 1, 1000);
        assert.ok(events.some((e) => e.action === 'token.create'));
        assert.ok(
          !JSON.stringify(events).includes('a'.repeat(64)),
          'the secret hash never reaches the ledger',
        );
      });
    });

    describe('queries', () => {
      before(async () => {
        for (let i = 0; i < 30; i++) {
          const ns = i % 2 === 0 ? 'conf/query-a' : 'conf/query-b';
          await store.flags.create(
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
        await store.flags.archive('conf/query-a/flag-00', actor);
      });

      const all = async (query: Parameters<FlagStore['queries']['list']>[0]) => {
        const keys: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.queries.list({
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

    describe('ledger and change feed', () => {
      test('verifies the chain of a namespace', async () => {
        const result = await store.ledger.verify('conf/flags');
        assert.equal(result.ok, true, JSON.stringify(result.problem));
        assert.ok(result.checked > 10);
      });

      test('replays from a sequence number in order, then delivers new events live', async () => {
        const seen: number[] = [];
        const feed = store.ledger.subscribe(
          ['conf/feed'],
          { 'conf/feed': 0 },
          { event: (e) => seen.push(e.seq) },
        );
        await store.flags.create(flag('conf/feed/one'), actor);
        await feed.ready;
        for (let i = 0; i < 3; i++) {
          await store.flags.updateState(
            'conf/feed/one',
            'production',
            { state: (s) => ({ ...s, enabled: !s.enabled }) },
            actor,
          );
        }
        for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
        feed.close();
        assert.deepEqual(seen, [1, 2, 3, 4]);
        const resumed: number[] = [];
        const again = store.ledger.subscribe(
          ['conf/feed'],
          { 'conf/feed': 2 },
          { event: (e) => resumed.push(e.seq) },
        );
        await again.ready;
        again.close();
        assert.deepEqual(resumed, [3, 4]);
      });

      test('prunes events by age and tells a subscriber behind the checkpoint to take a snapshot', async () => {
        await store.flags.create(flag('conf/aging/one'), actor);
        clock += 10 * 24 * 3600_000;
        await store.flags.updateState(
          'conf/aging/one',
          'production',
          { state: (s) => ({ ...s, enabled: false }) },
          actor,
        );
        assert.equal(await store.ledger.prune('conf/aging', 5 * 24 * 3600_000), 1);
        assert.equal((await store.ledger.verify('conf/aging')).ok, true);
        const resets: number[] = [];
        const seen: number[] = [];
        const feed = store.ledger.subscribe(
          ['conf/aging'],
          { 'conf/aging': 0 },
          {
            event: (e) => seen.push(e.seq),
            reset: (_ns, seq) => resets.push(seq),
          },
        );
        await feed.ready;
        feed.close();
        assert.deepEqual([resets, seen], [[1], [2]]);
      });
    });
    // Last: a new environment changes what later flags are created with.
    describe('environments', () => {
      test('lists an environment as soon as it is added', async () => {
        const before = (await store.flags.environments()).map((e) => e.name);
        await store.flags.putEnvironment({ name: 'qa-late', protected: false }, actor);
        const after = (await store.flags.environments()).map((e) => e.name);
        assert.deepEqual(after, [...before, 'qa-late'].sort());
      });
    });
  });
}
