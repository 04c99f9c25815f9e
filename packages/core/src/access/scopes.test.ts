import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentCovered, isCanonicalNamespaceScope, namespaceCovered, scopesWithin } from './scopes.js';

describe('scope matching', () => {
  it('covers a namespace by itself or a prefix at a "/", and everything with no scopes', () => {
    assert.ok(namespaceCovered([], 'search/x'));
    assert.ok(namespaceCovered(['search'], 'search/x'));
    assert.ok(namespaceCovered(['search'], 'search/x/y'));
    assert.ok(namespaceCovered(['search/x'], 'search/x'));
    assert.ok(!namespaceCovered(['search'], 'searching/x'));
    assert.ok(!namespaceCovered(['search/x'], 'search'));
    assert.ok(!namespaceCovered(['search/'], 'search/x'), 'a non-canonical scope is never normalised');
  });

  it('accepts only canonical namespace scopes', () => {
    for (const ok of ['search', 'search/x', 'a-b/c_d/0']) assert.ok(isCanonicalNamespaceScope(ok), ok);
    for (const bad of ['search/', '../', '*', 'a/../b', 'A/b', '', '/a', 'a//b', 'a/*']) {
      assert.ok(!isCanonicalNamespaceScope(bad), bad);
    }
  });

  it('covers environments it names, or all with none', () => {
    assert.ok(environmentCovered([], 'production'));
    assert.ok(environmentCovered(['staging'], 'staging'));
    assert.ok(!environmentCovered(['staging'], 'production'));
  });

  it('holds inner scopes within outer ones, and nothing unscoped within a scoped outer', () => {
    const outer = { namespaces: ['auth'], environments: ['staging'] };
    assert.ok(scopesWithin({ namespaces: ['auth/a'], environments: ['staging'] }, outer));
    assert.ok(scopesWithin(outer, outer));
    assert.ok(!scopesWithin({ namespaces: [], environments: ['staging'] }, outer));
    assert.ok(!scopesWithin({ namespaces: ['auth'], environments: [] }, outer));
    assert.ok(!scopesWithin({ namespaces: ['other'], environments: ['staging'] }, outer));
    assert.ok(scopesWithin({ namespaces: [], environments: [] }, { namespaces: [], environments: [] }));
    assert.ok(scopesWithin({ namespaces: ['x'], environments: ['y'] }, { namespaces: [], environments: [] }));
  });
});
