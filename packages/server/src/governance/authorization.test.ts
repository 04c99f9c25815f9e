/**
 * The authorization model over HTTP (issue 11, items 1–5, 8, 9, 11, 25): tokens only within their
 * creator's role and scopes, every write authorised against every environment and namespace it touches,
 * environment scopes on reads, sealed cursors, cross-namespace references, the reserved namespace,
 * sensitive values, and states by version. Refused requests change nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FlagEngine } from '@switchyard/core';
import { type FlagStore, keyring } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';
import { newToken, type Role, type SdkRole } from './access.js';
import { bootstrap } from './bootstrap.js';

let temp: ReturnType<typeof temporaryStore>;
let store: FlagStore;
let app: FastifyInstance;
let base: string;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;
const segmentPath = (key: string) => `/api/v1/segments/${encodeURIComponent(key)}`;
const api = (token: string, method: string, path: string, body?: unknown) =>
  callApi(base, method, path, { token: tokens[token]!, ...(body === undefined ? {} : { body }) });

const state = (enabled: boolean, extra: Record<string, unknown> = {}) => ({
  enabled,
  offVariation: 'off',
  default: 'on',
  ...extra,
});
const flag = (
  key: string,
  environments: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments,
  ...extra,
});

async function make(
  name: string,
  role: Role | SdkRole,
  scopes: { namespaces?: string[]; environments?: string[]; readSensitive?: boolean } = {},
) {
  const { value, record } = newToken(name, role, scopes);
  await store.tokens.create(record, { actor: 'test' });
  tokens[name] = value;
  ids[name] = record.id;
}

before(async () => {
  temp = temporaryStore({ encryptionKeys: keyring([randomBytes(32)]) });
  store = temp.store;
  tokens.root = (await bootstrap(store)).adminToken!;
  const setup = { actor: 'setup' };
  for (const doc of [
    flag('auth/a/live', { production: state(true), staging: state(true) }),
    flag('auth/a/quiet', { staging: state(false) }),
    flag('aa/first/one'),
    flag('zz/last/one'),
    flag('secret/ns/value'),
    flag('search/x/found'),
  ]) {
    await store.flags.create(doc, setup);
  }
  await store.segments.create(
    { kind: 'segment', key: 'auth/a/vips', environments: { production: { included: ['p1'] } } },
    setup,
  );
  await store.segments.create(
    { kind: 'segment', key: 'secret/ns/members', environments: { production: { included: ['m1'] } } },
    setup,
  );
  await make('scopedAdmin', 'admin', { namespaces: ['auth'], environments: ['staging'] });
  await make('stagingEditor', 'editor', { namespaces: ['auth'], environments: ['staging'] });
  await make('editor', 'editor', { namespaces: ['auth'] });
  await make('publisher', 'publisher', { namespaces: ['auth'] });
  await make('stagingViewer', 'viewer', { environments: ['staging'] });
  await make('authViewer', 'viewer', { namespaces: ['auth'] });
  await make('viewer', 'viewer');
  await make('threeScopes', 'viewer', { namespaces: ['zz', 'aa', 'search/x'] });
  await make('sensitiveViewer', 'viewer', { readSensitive: true });
  await make('unscopedEditor', 'editor');
  app = await buildServer({ store, rateLimits: false });
  base = await listenOnLoopback(app);
});

after(async () => {
  await app.close();
  await temp.remove();
});

describe('token administration (items 1, 9)', () => {
  it('refuses a scoped admin a token beyond its scopes or with readSensitive, and makes one within them', async () => {
    assert.equal(
      (await api('scopedAdmin', 'POST', '/api/v1/tokens', { name: 'x', role: 'admin' })).status,
      403,
    );
    const otherNs = { name: 'x', role: 'viewer', namespaces: ['secret'], environments: ['staging'] };
    assert.equal((await api('scopedAdmin', 'POST', '/api/v1/tokens', otherNs)).status, 403);
    const otherEnv = { name: 'x', role: 'viewer', namespaces: ['auth'], environments: ['production'] };
    assert.equal((await api('scopedAdmin', 'POST', '/api/v1/tokens', otherEnv)).status, 403);
    const sensitive = {
      name: 'x',
      role: 'viewer',
      namespaces: ['auth'],
      environments: ['staging'],
      readSensitive: true,
    };
    assert.equal((await api('scopedAdmin', 'POST', '/api/v1/tokens', sensitive)).status, 403);
    const within = { name: 'within', role: 'editor', namespaces: ['auth/a'], environments: ['staging'] };
    const made = await api('scopedAdmin', 'POST', '/api/v1/tokens', within);
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(made.body.scopes, { namespaces: ['auth/a'], environments: ['staging'] });
    const granted = await api('root', 'POST', '/api/v1/tokens', {
      name: 's',
      role: 'viewer',
      readSensitive: true,
    });
    assert.equal(granted.status, 201, granted.text);
    assert.equal(granted.body.readSensitive, true);
  });

  it('lists and revokes only tokens within the caller’s scopes; one outside is 404', async () => {
    const listed = await api('scopedAdmin', 'GET', '/api/v1/tokens');
    assert.equal(listed.status, 200);
    const names = listed.body.items.map((t: { name: string }) => t.name);
    assert.ok(names.includes('stagingEditor'));
    assert.ok(
      !names.includes('admin') && !names.includes('viewer') && !names.includes('editor'),
      names.join(),
    );
    const revoke = await api('scopedAdmin', 'DELETE', `/api/v1/tokens/${ids.viewer}`);
    assert.equal(revoke.status, 404);
    assert.equal((await store.tokens.get(ids.viewer!))?.revokedAt, undefined);
    assert.equal((await api('viewer', 'GET', '/api/v1/environments')).status, 200);
  });

  it('refuses expiries in the past, non-canonical scopes, unknown namespaces and environments', async () => {
    const refused = [
      { name: 'x', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' },
      { name: 'x', role: 'viewer', namespaces: ['../'] },
      { name: 'x', role: 'viewer', namespaces: ['*'] },
      { name: 'x', role: 'viewer', namespaces: ['search/'] },
      { name: 'x', role: 'viewer', namespaces: ['auth/../secret'] },
      { name: 'x', role: 'viewer', namespaces: ['chekout'] },
      { name: 'x', role: 'viewer', namespaces: ['switchyard/system'] },
      { name: 'x', role: 'viewer', namespaces: ['switchyard'] },
      { name: 'x', role: 'viewer', environments: ['prodcution'] },
      { name: 'x', role: 'sdk-server', environments: ['nowhere'] },
    ];
    for (const body of refused) {
      const answer = await api('root', 'POST', '/api/v1/tokens', body);
      assert.equal(answer.status, 400, `${JSON.stringify(body)} → ${answer.status} ${answer.text}`);
      assert.equal(answer.type, 'application/problem+json');
    }
    const prefix = await api('root', 'POST', '/api/v1/tokens', {
      name: 'p',
      role: 'viewer',
      namespaces: ['auth'],
    });
    assert.equal(prefix.status, 201, prefix.text);
  });
});

describe('environment administration (items 1, 9)', () => {
  it('needs an admin without scopes; an existing name is 409; PATCH changes protection', async () => {
    const unprotect = { name: 'production', protected: false };
    assert.equal((await api('scopedAdmin', 'POST', '/api/v1/environments', unprotect)).status, 403);
    assert.equal((await api('root', 'POST', '/api/v1/environments', unprotect)).status, 409);
    const patch = { protected: false };
    assert.equal((await api('scopedAdmin', 'PATCH', '/api/v1/environments/production', patch)).status, 403);
    const production = (await store.flags.environments()).find((e) => e.name === 'production');
    assert.equal(production?.protected, true);

    assert.equal((await api('root', 'POST', '/api/v1/environments', { name: 'qa' })).status, 201);
    const changed = await api('root', 'PATCH', '/api/v1/environments/qa', {
      protected: true,
      description: 'QA',
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.protected, true);
    assert.equal(changed.body.description, 'QA');
    assert.equal((await api('root', 'PATCH', '/api/v1/environments/nowhere', patch)).status, 404);
  });
});

describe('writes touch only what the token covers (items 2, 9)', () => {
  it('refuses a staging editor a segment with a production state, and a flag with one', async () => {
    const segment = { key: 'auth/a/new-seg', environments: { production: { included: ['u'] } } };
    assert.equal((await api('stagingEditor', 'POST', '/api/v1/segments', segment)).status, 403);
    assert.equal(await store.segments.get('auth/a/new-seg'), undefined);
    const created = flag('auth/a/new-flag', { production: state(true) });
    assert.equal((await api('stagingEditor', 'POST', '/api/v1/flags', created)).status, 403);
    const applied = { documents: [flag('auth/a/applied', { production: state(true) })] };
    assert.equal((await api('stagingEditor', 'POST', '/api/v1/apply', applied)).status, 403);
    assert.equal(await store.flags.get('auth/a/new-flag'), undefined);
    const staging = { key: 'auth/a/staging-seg', environments: { staging: { included: ['u'] } } };
    assert.equal((await api('stagingEditor', 'POST', '/api/v1/segments', staging)).status, 201);
  });

  it('deletes a segment used in production only with every environment in scope, as a publisher', async () => {
    assert.equal((await api('stagingEditor', 'DELETE', segmentPath('auth/a/vips'))).status, 403);
    assert.equal((await api('editor', 'DELETE', segmentPath('auth/a/vips'))).status, 403);
    assert.ok((await store.segments.get('auth/a/vips')) !== undefined);
    assert.equal((await api('publisher', 'DELETE', segmentPath('auth/a/vips'))).status, 204);
  });

  it('archives or deletes a flag live in production only with every environment in scope, as a publisher', async () => {
    for (const who of ['stagingEditor', 'editor']) {
      const answer = await api(who, 'POST', `${flagPath('auth/a/live')}/archive`);
      assert.equal(answer.status, 403, `${who}: ${answer.text}`);
    }
    assert.equal((await store.flags.meta('auth/a/live'))?.meta.archivedAt, undefined);
    assert.equal((await api('stagingEditor', 'POST', `${flagPath('auth/a/quiet')}/archive`)).status, 403);
    assert.equal((await api('editor', 'POST', `${flagPath('auth/a/quiet')}/archive`)).status, 200);
    assert.equal((await api('stagingEditor', 'DELETE', flagPath('auth/a/quiet'))).status, 403);
    assert.equal((await api('editor', 'DELETE', flagPath('auth/a/quiet'))).status, 204);
    assert.equal((await api('publisher', 'POST', `${flagPath('auth/a/live')}/archive`)).status, 200);
    assert.equal((await api('publisher', 'POST', `${flagPath('auth/a/live')}/restore`)).status, 200);
  });

  it('refuses every write into the reserved switchyard/system namespace', async () => {
    const head = (await store.adapter.ledgerHead('switchyard/system')).seq;
    assert.equal((await api('root', 'POST', '/api/v1/flags', flag('switchyard/system/x'))).status, 403);
    const segment = { key: 'switchyard/system/s', environments: {} };
    assert.equal((await api('root', 'POST', '/api/v1/segments', segment)).status, 403);
    const applied = { documents: [flag('switchyard/system/y')] };
    assert.equal((await api('root', 'POST', '/api/v1/apply', applied)).status, 403);
    assert.equal((await store.adapter.ledgerHead('switchyard/system')).seq, head);
  });
});

describe('environment scopes on reads (item 3)', () => {
  it('omits states and segment members of environments outside the scope', async () => {
    const view = await api('stagingViewer', 'GET', flagPath('auth/a/live'));
    assert.equal(view.status, 200);
    assert.deepEqual(Object.keys(view.body.states), ['staging']);
    await store.segments.create(
      { kind: 'segment', key: 'auth/b/both', environments: { production: { included: ['p'] }, staging: {} } },
      { actor: 'setup' },
    );
    const segment = await api('stagingViewer', 'GET', segmentPath('auth/b/both'));
    assert.equal(segment.status, 200);
    assert.deepEqual(Object.keys(segment.body.states), ['staging']);
  });

  it('refuses a state, its history and enabledIn= of an environment outside the scope', async () => {
    const path = `${flagPath('auth/a/live')}/environments/production`;
    assert.equal((await api('stagingViewer', 'GET', path)).status, 403);
    assert.equal((await api('stagingViewer', 'GET', `${path}/history`)).status, 403);
    assert.equal((await api('stagingViewer', 'GET', '/api/v1/flags?enabledIn=production')).status, 403);
    assert.equal((await api('stagingViewer', 'GET', '/api/v1/flags?enabledIn=staging')).status, 200);
  });

  it('leaves production configuration out of ledger events', async () => {
    await store.flags.create(
      flag('auth/c/ledger', {
        production: state(true, { targets: { on: ['secret-user'] } }),
        staging: state(false),
      }),
      { actor: 'setup' },
    );
    await store.flags.updateState(
      'auth/c/ledger',
      'production',
      { state: state(true, { targets: { on: ['other-secret'] } }) },
      { actor: 'setup' },
    );
    const events = await api('stagingViewer', 'GET', '/api/v1/events?namespace=auth/c');
    assert.equal(events.status, 200);
    assert.ok(!events.text.includes('secret-user') && !events.text.includes('other-secret'), events.text);
    const create = events.body.items.find((e: { action: string }) => e.action === 'flag.create');
    assert.deepEqual(Object.keys(create.patch.environments), ['staging']);
    const all = await api('viewer', 'GET', '/api/v1/events?namespace=auth/c');
    assert.ok(all.text.includes('other-secret'));
  });
});

describe('list cursors and scope filtering inside the query (item 4)', () => {
  it('gives a scoped reader full pages of its namespaces only', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api(
        'authViewer',
        'GET',
        `/api/v1/flags?limit=1${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      assert.equal(page.status, 200, page.text);
      if (page.body.cursor !== undefined) assert.equal(page.body.items.length, 1);
      seen.push(...page.body.items.map((m: { key: string }) => m.key));
      cursor = page.body.cursor;
    } while (cursor !== undefined);
    assert.ok(seen.length > 0);
    assert.ok(
      seen.every((key) => key.startsWith('auth/')),
      seen.join(),
    );
  });

  it('walks several scopes in key order, with a prefix or without', async () => {
    const walk = async (query: string) => {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await api(
          'threeScopes',
          'GET',
          `/api/v1/flags?limit=1${query}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        );
        assert.equal(page.status, 200, page.text);
        if (page.body.cursor !== undefined) assert.equal(page.body.items.length, 1);
        keys.push(...page.body.items.map((m: { key: string }) => m.key));
        cursor = page.body.cursor;
      } while (cursor !== undefined);
      return keys;
    };
    assert.deepEqual(await walk(''), ['aa/first/one', 'search/x/found', 'zz/last/one']);
    assert.deepEqual(await walk('&prefix=search/'), ['search/x/found']);
    assert.deepEqual(await walk('&prefix=search/x/f'), ['search/x/found']);
    assert.deepEqual(await walk('&prefix=auth/'), []);
  });

  it('refuses forged cursors and another reader’s cursor', async () => {
    const forged = Buffer.from(JSON.stringify({ namespace: 'secret/ns', after: '' })).toString('base64url');
    const answer = await api('authViewer', 'GET', `/api/v1/flags?cursor=${forged}`);
    assert.equal(answer.status, 422, answer.text);
    const page = await api('viewer', 'GET', '/api/v1/flags?limit=1');
    assert.ok(page.body.cursor !== undefined);
    assert.ok(!Buffer.from(page.body.cursor, 'base64url').toString('latin1').includes('aa/first'));
    const borrowed = await api(
      'authViewer',
      'GET',
      `/api/v1/flags?cursor=${encodeURIComponent(page.body.cursor)}`,
    );
    assert.equal(borrowed.status, 422);
  });
});

describe('cross-namespace references (item 5)', () => {
  it('need read rights on the target, with one message for missing and unreadable targets', async () => {
    const rule = (segment: string) =>
      state(true, {
        rules: [
          {
            id: 'r',
            when: [{ op: 'inSegment', values: [segment] }],
            serve: 'on',
          },
        ],
      });
    const existing = await api(
      'editor',
      'POST',
      '/api/v1/flags',
      flag('auth/r/one', { staging: rule('secret/ns/members') }),
    );
    const missing = await api(
      'editor',
      'POST',
      '/api/v1/flags',
      flag('auth/r/two', { staging: rule('secret/ns/nobody') }),
    );
    assert.equal(existing.status, 422, existing.text);
    assert.equal(missing.status, 422, missing.text);
    const message = (answer: { body: { errors: { message: string }[] } }, key: string) =>
      answer.body.errors[0]!.message.replace(key, '<key>');
    assert.match(
      existing.body.errors[0].message,
      /does not exist or is in a namespace this token may not read/,
    );
    assert.equal(message(existing, 'secret/ns/members'), message(missing, 'secret/ns/nobody'));

    const prerequisite = (key: string) => state(true, { prerequisites: [{ flag: key, variation: 'on' }] });
    const foreignFlag = await api(
      'editor',
      'POST',
      '/api/v1/flags',
      flag('auth/r/three', { staging: prerequisite('secret/ns/value') }),
    );
    const noFlag = await api(
      'editor',
      'POST',
      '/api/v1/flags',
      flag('auth/r/four', { staging: prerequisite('secret/ns/none') }),
    );
    assert.equal(foreignFlag.status, 422);
    assert.match(
      foreignFlag.body.errors[0].message,
      /does not exist or is in a namespace this token may not read/,
    );
    assert.equal(message(foreignFlag, 'secret/ns/value'), message(noFlag, 'secret/ns/none'));
    const stateChange = await callApi(base, 'PUT', `${flagPath('auth/a/live')}/environments/staging`, {
      token: tokens.editor!,
      headers: { 'if-match': `"${(await store.flags.state('auth/a/live', 'staging'))!.version}"` },
      body: rule('secret/ns/members'),
    });
    assert.equal(stateChange.status, 422, stateChange.text);

    const malformed = [
      { staging: { prerequisites: 'x', rules: [{ when: 5 }] } },
      {
        staging: {
          prerequisites: [null, { flag: 7 }],
          rules: [{ when: [{ op: 'inSegment', values: 'x' }] }],
        },
      },
      'not states',
    ];
    for (const environments of malformed) {
      const answer = await api('editor', 'POST', '/api/v1/flags', { ...flag('auth/r/bad'), environments });
      assert.ok(answer.status >= 400 && answer.status < 500, `${answer.status} ${answer.text}`);
    }

    const allowed = await api(
      'unscopedEditor',
      'POST',
      '/api/v1/flags',
      flag('auth/r/five', { staging: rule('secret/ns/members') }),
    );
    assert.equal(allowed.status, 201, allowed.text);
  });
});

describe('sensitive values (item 11)', () => {
  it('are decrypted only for tokens with readSensitive, redacted for others', async () => {
    const doc = flag(
      'auth/s/key',
      {},
      { type: 'string', variations: { a: 'secret-a', b: 'secret-b' }, sensitive: true },
    );
    const created = await api('unscopedEditor', 'POST', '/api/v1/flags', doc);
    assert.equal(created.status, 201, created.text);
    assert.ok(!created.text.includes('secret-a'));
    for (const who of ['viewer', 'authViewer']) {
      const view = await api(who, 'GET', flagPath('auth/s/key'));
      assert.deepEqual(view.body.meta.variations, { a: '[sensitive]', b: '[sensitive]' });
      const list = await api(who, 'GET', '/api/v1/flags?prefix=auth/s/');
      assert.ok(!list.text.includes('secret-a'), list.text);
    }
    for (const who of ['root', 'sensitiveViewer']) {
      const view = await api(who, 'GET', flagPath('auth/s/key'));
      assert.deepEqual(view.body.meta.variations, { a: 'secret-a', b: 'secret-b' });
    }
  });
});

describe('one scope matching everywhere (item 8)', () => {
  it('refuses a scope "search/" and gives a key scoped "search" the flags under it in its snapshot', async () => {
    const slash = await api('root', 'POST', '/api/v1/tokens', {
      name: 'slash',
      role: 'sdk-server',
      namespaces: ['search/'],
      environments: ['production'],
    });
    assert.equal(slash.status, 400, slash.text);
    const made = await api('root', 'POST', '/api/v1/tokens', {
      name: 'search',
      role: 'sdk-server',
      namespaces: ['search'],
      environments: ['production'],
    });
    assert.equal(made.status, 201, made.text);
    const response = await fetch(`${base}/sdk/v1/snapshot`, {
      headers: { authorization: `Bearer ${made.body.token}` },
    });
    assert.equal(response.status, 200);
    const engine = FlagEngine.fromSnapshot(Buffer.from(await response.arrayBuffer()));
    assert.deepEqual([...engine.flagKeys()], ['search/x/found']);
    const list = await callApi(base, 'GET', '/api/v1/flags', { token: tokens.authViewer! });
    assert.ok(list.body.items.every((m: { key: string }) => m.key.startsWith('auth/')));
  });
});

describe('states by version (item 25)', () => {
  it('serves ?version=N from the history, and 404 for an unknown version', async () => {
    await store.flags.create(flag('auth/v/flag', { staging: state(false) }), { actor: 'setup' });
    await store.flags.updateState('auth/v/flag', 'staging', { state: state(true) }, { actor: 'setup' });
    const path = `${flagPath('auth/v/flag')}/environments/staging`;
    const current = await api('viewer', 'GET', path);
    assert.equal(current.body.version, 2);
    const first = await api('viewer', 'GET', `${path}?version=1`);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.version, 1);
    assert.equal(first.body.state.enabled, false);
    assert.equal((await api('viewer', 'GET', `${path}?version=2`)).body.state.enabled, true);
    assert.equal((await api('viewer', 'GET', `${path}?version=9`)).status, 404);
  });
});

describe('raw "/" in admin paths (item 25)', () => {
  it('reads the rest of the path as the key where one reading fits, and hints how to encode it otherwise', async () => {
    await store.flags.create(flag('auth/raw/flag', { staging: state(false) }), { actor: 'setup' });
    const view = await api('viewer', 'GET', '/api/v1/flags/auth/raw/flag');
    assert.equal(view.status, 200, view.text);
    assert.equal(view.body.meta.key, 'auth/raw/flag');
    const staging = await api('viewer', 'GET', '/api/v1/flags/auth/raw/flag/environments/staging');
    assert.equal(staging.status, 200, staging.text);
    assert.equal(staging.body.environment, 'staging');
    assert.ok(staging.headers.get('etag'));
    const enabled = await api('editor', 'POST', '/api/v1/flags/auth/raw/flag/environments/staging/enable');
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal(enabled.body.state.enabled, true);
    const refused = await api('stagingViewer', 'GET', '/api/v1/flags/auth/raw/flag/environments/production');
    assert.equal(refused.status, 403);
    const segment = await api('viewer', 'GET', '/api/v1/segments/auth/a/staging-seg');
    assert.equal(segment.status, 200, segment.text);

    const unknown = await api('viewer', 'GET', '/api/v1/flags/auth/raw/flag/nonsense/more');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.detail, /%2F/);
  });
});

describe('what the outside probe found after the first fixes', () => {
  it('refuses an environment-scoped editor a new flag, which every environment would serve', async () => {
    const doc = flag('auth/a/dark-launch', { staging: state(false) });
    const created = await api('stagingEditor', 'POST', '/api/v1/flags', doc);
    assert.equal(created.status, 403, created.text);
    const applied = await api('stagingEditor', 'POST', '/api/v1/apply', { documents: [doc] });
    assert.equal(applied.status, 403, applied.text);
    assert.equal(await store.flags.meta('auth/a/dark-launch'), undefined);
    const unscoped = await api('editor', 'POST', '/api/v1/flags', doc);
    assert.equal(unscoped.status, 201, unscoped.text);
  });

  it('answers an apply that guesses a sensitive value alike, right or wrong, for a token that cannot read it', async () => {
    await store.flags.create(
      {
        key: 'auth/a/launch-price',
        type: 'number',
        sensitive: true,
        variations: { price: 37, old: 20 },
        environments: {},
      },
      { actor: 'setup' },
    );
    const attempt = (price: unknown) =>
      api('editor', 'POST', '/api/v1/apply', {
        dryRun: true,
        documents: [
          {
            key: 'auth/a/launch-price',
            type: 'number',
            sensitive: true,
            variations: { price, old: 20 },
            environments: {},
          },
        ],
      });
    const right = await attempt(37);
    const wrong = await attempt(36);
    assert.equal(right.status, wrong.status, `${right.text} / ${wrong.text}`);
    assert.equal(right.body.detail, wrong.body.detail);
    const reader = await callApi(base, 'POST', '/api/v1/apply', {
      token: tokens.root!,
      body: {
        dryRun: true,
        documents: [
          {
            key: 'auth/a/launch-price',
            type: 'number',
            sensitive: true,
            variations: { price: 37, old: 20 },
            environments: {},
          },
        ],
      },
    });
    assert.equal(reader.status, 200, reader.text);
    assert.equal(reader.body.unchanged, 1);
  });
});
