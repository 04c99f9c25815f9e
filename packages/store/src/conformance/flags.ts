// The 'flags' group: creating, changing, rolling back, archiving and deleting flags through the store.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  ConflictError,
  CorruptRecordError,
  IdempotencyMismatchError,
  InvalidOperationError,
  NotFoundError,
  StoreValidationError,
} from '../errors.js';
import { encodeRecord, paths } from '../records.js';
import { actor, type ConformanceContext, encoder, event, flag } from './fixtures.js';

/** Registers the 'flags' tests. */
export function describeFlags(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('flags', () => {
    test('creates a flag with a state in every environment, at version 1', async () => {
      const view = await ctx.store.flags.create(flag('conf/flags/basic', { tags: ['web'] }), actor);
      assert.deepEqual(Object.keys(view.states).sort(), ['development', 'production', 'staging']);
      assert.equal(view.states.production!.version, 1);
      assert.equal(view.states.production!.state.enabled, true);
      assert.equal(view.states.staging!.state.enabled, false, 'unmentioned environments start off');
      assert.equal(view.meta.createdBy, 'tester');
      const again = await ctx.store.flags.get('conf/flags/basic');
      assert.deepEqual(again, view);
    });

    test('stores states only for the environments a document names; the others hold the initial state until changed', async () => {
      const key = 'conf/flags/implicit';
      const view = await ctx.store.flags.create(flag(key), actor);
      assert.equal(await ctx.adapter.get('conf/flags', paths.state('staging', 'implicit')), undefined);
      assert.notEqual(await ctx.adapter.get('conf/flags', paths.state('production', 'implicit')), undefined);
      const initial = {
        key,
        environment: 'staging',
        version: 1,
        state: { enabled: false, offVariation: 'off', default: 'off', version: 1 },
        updatedAt: view.meta.createdAt,
        updatedBy: 'tester',
      };
      assert.deepEqual(view.states.staging, initial);
      assert.deepEqual(await ctx.store.flags.state(key, 'staging'), initial);
      assert.equal(await ctx.store.flags.state(key, 'nowhere'), undefined);
      const on = { enabled: true, offVariation: 'off', default: 'on' };
      await assert.rejects(
        ctx.store.flags.updateState(key, 'nowhere', { state: on }, actor),
        (e: Error) => e instanceof NotFoundError && /no environment "nowhere"/.test(e.message),
      );
      await assert.rejects(
        ctx.store.flags.updateState(key, 'staging', { expectedVersion: 3, state: on }, actor),
        (e: ConflictError) =>
          e instanceof ConflictError &&
          e.expected === 3 &&
          e.actual === 1 &&
          /at version 1, not 3/.test(e.message),
      );
      const changed = await ctx.store.flags.updateState(
        key,
        'staging',
        { expectedVersion: 1, state: on },
        actor,
      );
      assert.equal(changed.version, 2);
      await assert.rejects(
        ctx.store.flags.updateState(key, 'staging', { expectedVersion: 1, state: on }, actor),
        (e: ConflictError) =>
          e instanceof ConflictError && e.actual === 2 && /at version 2, not 1/.test(e.message),
      );
      const history = await ctx.store.flags.history(key, 'staging', { limit: 10 });
      assert.deepEqual(history, [initial]);
      const delivered = new Map<string, [boolean, number]>();
      for (const env of ['staging', 'development', 'nowhere']) {
        for await (const page of ctx.store.delivery.flags('conf/flags', env)) {
          for (const record of page) {
            if (record.key === key) delivered.set(env, [record.state.enabled, record.state.version!]);
          }
        }
      }
      assert.deepEqual(Object.fromEntries(delivered), { staging: [true, 2], development: [false, 1] });
      const touched = await ctx.store.delivery.records('conf/flags', { flags: ['implicit'], segments: [] }, [
        'development',
        'nowhere',
      ]);
      assert.equal(touched.get('development')![0]!.record?.state.version, 1);
      assert.equal(touched.get('nowhere')![0]!.record, undefined);
    });

    test('refuses a duplicate key, an invalid document and an unknown environment', async () => {
      await assert.rejects(ctx.store.flags.create(flag('conf/flags/basic'), actor), ConflictError);
      await assert.rejects(
        ctx.store.flags.create(flag('conf/flags/bad', {}, { offVariation: 'of' }), actor),
        (e: StoreValidationError) =>
          e instanceof StoreValidationError &&
          /environments\.production\.offVariation: unknown variation "of"/.test(e.message),
      );
      await assert.rejects(
        ctx.store.flags.create(
          flag('conf/flags/elsewhere', {
            environments: { qa: { enabled: true, offVariation: 'off', default: 'on' } },
          }),
          actor,
        ),
        InvalidOperationError,
      );
      assert.equal(await ctx.store.flags.get('conf/flags/bad'), undefined);
    });

    test('creates many flags per namespace in batches, one import event per batch, all or nothing per batch', async () => {
      const docs = ['conf/bulk-a/one', 'conf/bulk-a/two', 'conf/bulk-a/three', 'conf/bulk-b/one'].map((k) =>
        flag(k),
      );
      assert.equal(await ctx.store.flags.createMany(docs, actor, 2), 4);
      assert.equal((await ctx.store.flags.get('conf/bulk-a/three'))!.states.production!.version, 1);
      const events = await ctx.store.ledger.events('conf/bulk-a', 1, 10);
      assert.deepEqual(
        events.map((e) => [e.action, (e.patch as unknown[]).length]),
        [
          ['flag.import', 2],
          ['flag.import', 1],
        ],
      );
      await assert.rejects(
        ctx.store.flags.createMany([flag('conf/bulk-b/fresh'), flag('conf/bulk-b/one')], actor),
        /flag "conf\/bulk-b\/one" already exists/,
      );
      assert.equal(
        await ctx.store.flags.get('conf/bulk-b/fresh'),
        undefined,
        'a failed batch writes nothing',
      );
      await assert.rejects(
        ctx.store.flags.createMany(
          [flag('conf/bulk-b/ok'), flag('conf/bulk-b/bad', {}, { offVariation: 'nope' })],
          actor,
        ),
        /conf\/bulk-b\/bad environments\.production\.offVariation/,
      );
      assert.equal(
        await ctx.store.flags.get('conf/bulk-b/ok'),
        undefined,
        'an invalid document stops the call before any write',
      );
    });

    test('changes a state only at the expected version, keeping the previous one in history', async () => {
      const updated = await ctx.store.flags.updateState(
        'conf/flags/basic',
        'production',
        { expectedVersion: 1, state: (s) => ({ ...s, enabled: false }) },
        actor,
      );
      assert.equal(updated.version, 2);
      const head = await ctx.adapter.ledgerHead('conf/flags');
      await assert.rejects(
        ctx.store.flags.updateState(
          'conf/flags/basic',
          'production',
          { expectedVersion: 1, state: (s) => s },
          actor,
        ),
        (e: ConflictError) =>
          e instanceof ConflictError && e.actual === 2 && /at version 2, not 1/.test(e.message),
      );
      assert.deepEqual(await ctx.adapter.ledgerHead('conf/flags'), head, 'a conflict writes no event');
      const history = await ctx.store.flags.history('conf/flags/basic', 'production', { limit: 10 });
      assert.deepEqual(
        history.map((h) => [h.version, h.state.enabled]),
        [[1, true]],
      );
    });

    test('rolls back to an earlier version as a new version', async () => {
      const rolled = await ctx.store.flags.rollback('conf/flags/basic', 'production', 1, 2, actor);
      assert.equal(rolled.version, 3);
      assert.equal(rolled.state.enabled, true);
      const events = await ctx.store.ledger.events('conf/flags', 1, 100);
      const last = events[events.length - 1]!;
      assert.deepEqual(
        [last.action, last.fromVersion, last.toVersion, last.actor],
        ['state.rollback', 2, 3, 'tester'],
      );
    });

    test('keeps only the configured number of earlier states', async () => {
      for (let i = 0; i < 8; i++) {
        await ctx.store.flags.updateState(
          'conf/flags/basic',
          'development',
          { state: (s) => ({ ...s, enabled: !s.enabled }) },
          actor,
        );
      }
      const history = await ctx.store.flags.history('conf/flags/basic', 'development', { limit: 100 });
      assert.deepEqual(
        history.map((h) => h.version),
        [8, 7, 6, 5, 4],
      );
    });

    test('answers a repeated idempotency key with the first result and refuses it for another request', async () => {
      const context = { ...actor, idempotencyKey: 'create-once' };
      const first = await ctx.store.flags.create(flag('conf/flags/idem'), context);
      const head = await ctx.adapter.ledgerHead('conf/flags');
      const second = await ctx.store.flags.create(flag('conf/flags/idem'), context);
      assert.deepEqual(second, first);
      assert.deepEqual(await ctx.adapter.ledgerHead('conf/flags'), head);
      await assert.rejects(
        ctx.store.flags.create(flag('conf/flags/idem-other'), context),
        IdempotencyMismatchError,
      );
    });

    test('archives, restores, and deletes only archived flags', async () => {
      await ctx.store.flags.create(flag('conf/flags/old'), actor);
      await assert.rejects(ctx.store.flags.delete('conf/flags/old', actor), InvalidOperationError);
      const archived = await ctx.store.flags.archive('conf/flags/old', actor);
      assert.ok(archived.archivedAt);
      await assert.rejects(
        ctx.store.flags.updateState('conf/flags/old', 'production', { state: (s) => s }, actor),
        InvalidOperationError,
      );
      await ctx.store.flags.restore('conf/flags/old', actor);
      await ctx.store.flags.archive('conf/flags/old', actor);
      await ctx.store.flags.delete('conf/flags/old', actor);
      assert.equal(await ctx.store.flags.get('conf/flags/old'), undefined);
      const actions = (await ctx.store.ledger.events('conf/flags', 1, 1000))
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
      await ctx.store.flags.create(flag('conf/prereq/base'), actor);
      await ctx.store.flags.create(
        flag('conf/prereq/child', {}, { prerequisites: [{ flag: 'conf/prereq/base', variation: 'on' }] }),
        actor,
      );
      await assert.rejects(
        ctx.store.flags.create(
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
        ctx.store.flags.updateState(
          'conf/prereq/base',
          'production',
          { state: (s) => ({ ...s, prerequisites: [{ flag: 'conf/prereq/child', variation: 'on' }] }) },
          actor,
        ),
        /prerequisites form a cycle: conf\/prereq\/base → conf\/prereq\/child → conf\/prereq\/base/,
      );
    });

    test('applies concurrent changes to the latest state, without an expected version, without losing one', async () => {
      await ctx.store.flags.create(
        flag(
          'conf/race/latest',
          { type: 'number', variations: { v: 0 } },
          { offVariation: 'v', default: 'v' },
        ),
        actor,
      );
      await Promise.all(
        Array.from({ length: 8 }, (_, writer) =>
          ctx.store.flags.updateState(
            'conf/race/latest',
            'production',
            { state: (s) => ({ ...s, targets: { v: [...(s.targets?.v ?? []), `w${writer}`] } }) },
            actor,
          ),
        ),
      );
      const final = await ctx.store.flags.state('conf/race/latest', 'production');
      assert.equal(final!.version, 9);
      assert.deepEqual(
        [...final!.state.targets!.v!].sort(),
        Array.from({ length: 8 }, (_, w) => `w${w}`).sort(),
      );
    });

    test('gives 16 concurrent writers on one flag distinct, consecutive versions and loses no update', async () => {
      await ctx.store.flags.create(
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
            const current = await ctx.store.flags.state('conf/race/counter', 'production');
            try {
              const next = await ctx.store.flags.updateState(
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
      const final = await ctx.store.flags.state('conf/race/counter', 'production');
      assert.equal(final!.state.targets!.v!.length, 80, 'every write is in the final state');
    });

    test('reports a damaged or newer-format record as such, without crashing', async () => {
      await ctx.adapter.commit({
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
        ctx.store.flags.get('conf/corrupt/truncated'),
        (e: Error) => e instanceof CorruptRecordError && /not valid JSON/.test(e.message),
      );
      await assert.rejects(ctx.store.flags.get('conf/corrupt/future'), CorruptRecordError);
      await assert.rejects(
        ctx.store.flags.get('conf/corrupt/newer'),
        /record schema version 9, newer than this Switchyard reads/,
      );
    });
  });
}
