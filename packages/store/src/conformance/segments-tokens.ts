// The 'segments and tokens' group.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ConflictError } from '../errors.js';
import { actor, type ConformanceContext, flag } from './fixtures.js';

/** Registers the 'segments and tokens' tests. */
export function describeSegmentsAndTokens(ctx: ConformanceContext): void {
  const { test } = ctx;
  describe('segments and tokens', () => {
    test('keeps segments per environment, versioned, and lets flags reference them', async () => {
      const created = await ctx.store.segments.create(
        { kind: 'segment', key: 'conf/seg/beta', environments: { production: { included: ['u1'] } } },
        actor,
      );
      assert.deepEqual(created.states.production!.state, { included: ['u1'], version: 1 });
      assert.deepEqual(created.states.staging!.state, { version: 1 });
      const updated = await ctx.store.segments.updateState(
        'conf/seg/beta',
        'production',
        1,
        { included: ['u1', 'u2'] },
        actor,
      );
      assert.equal(updated.version, 2);
      await assert.rejects(
        ctx.store.segments.updateState('conf/seg/beta', 'production', 1, {}, actor),
        ConflictError,
      );
      const rule = { id: 'beta', when: [{ op: 'inSegment', values: ['conf/seg/beta'] }], serve: 'on' };
      await ctx.store.flags.create(flag('conf/seg/uses-beta', {}, { rules: [rule] }), actor);
      const missing = {
        id: 'gone',
        when: [{ op: 'inSegment', values: ['conf/seg/missing'] }],
        serve: 'on',
      };
      await assert.rejects(
        ctx.store.flags.create(flag('conf/seg/uses-missing', {}, { rules: [missing] }), actor),
        /segment "conf\/seg\/missing" does not exist/,
      );
      await ctx.store.segments.delete('conf/seg/beta', actor);
      assert.equal(await ctx.store.segments.get('conf/seg/beta'), undefined);
    });

    test('stores API tokens by hash only, lists and revokes them, and keeps the hash out of the ledger', async () => {
      const token = await ctx.store.tokens.create(
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
        (await ctx.store.tokens.list({ limit: 10 })).map((t) => t.id),
        ['tok1'],
      );
      const revoked = await ctx.store.tokens.revoke('tok1', actor);
      assert.ok(revoked.revokedAt);
      assert.ok((await ctx.store.tokens.get('tok1'))!.revokedAt);
      const events = await ctx.store.ledger.events('switchyard/system', 1, 1000);
      assert.ok(events.some((e) => e.action === 'token.create'));
      assert.ok(!JSON.stringify(events).includes('a'.repeat(64)), 'the secret hash never reaches the ledger');
    });
  });
}
