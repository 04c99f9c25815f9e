/**
 * Every API route against every role, over HTTP: a role at least the route needs succeeds, any other
 * gets 403. Each case works on a flag of its own, so cases cannot influence each other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { listenOnLoopback, temporaryStore } from '../testing.js';
import { newToken, ROLES, type Role } from './access.js';
import { bootstrap } from './bootstrap.js';

interface Route {
  name: string;
  needs: Role;
  method: string;
  path: (key: string) => string;
  body?: (key: string) => unknown;
  /** `If-Match` with the flag's development version. */
  ifMatch?: boolean;
  /** What the case needs beforehand, done with the store directly. */
  prepare?: (store: FlagStore, key: string) => Promise<unknown>;
}

const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;
const doc = (key: string) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments: { development: { enabled: true, offVariation: 'off', default: 'on' } },
});
const counter = { n: 0 };

const ROUTES: Route[] = [
  { name: 'list flags', needs: 'viewer', method: 'GET', path: () => '/api/v1/flags' },
  { name: 'read a flag', needs: 'viewer', method: 'GET', path: flagPath },
  {
    name: 'read a state',
    needs: 'viewer',
    method: 'GET',
    path: (k) => `${flagPath(k)}/environments/development`,
  },
  {
    name: 'read history',
    needs: 'viewer',
    method: 'GET',
    path: (k) => `${flagPath(k)}/environments/development/history`,
  },
  { name: 'read events', needs: 'viewer', method: 'GET', path: () => '/api/v1/events?namespace=matrix/ns' },
  {
    name: 'verify the ledger',
    needs: 'viewer',
    method: 'GET',
    path: () => '/api/v1/events/verify?namespace=matrix/ns',
  },
  { name: 'list environments', needs: 'viewer', method: 'GET', path: () => '/api/v1/environments' },
  {
    name: 'create a flag',
    needs: 'editor',
    method: 'POST',
    path: () => '/api/v1/flags',
    body: (k) => doc(`${k}-new`),
  },
  {
    name: 'edit metadata',
    needs: 'editor',
    method: 'PATCH',
    path: flagPath,
    body: () => ({ description: 'x' }),
  },
  {
    name: 'replace a state',
    needs: 'editor',
    method: 'PUT',
    path: (k) => `${flagPath(k)}/environments/development`,
    body: () => ({ enabled: false, offVariation: 'off', default: 'on' }),
    ifMatch: true,
  },
  {
    name: 'disable in development',
    needs: 'editor',
    method: 'POST',
    path: (k) => `${flagPath(k)}/environments/development/disable`,
  },
  {
    name: 'enable in production',
    needs: 'publisher',
    method: 'POST',
    path: (k) => `${flagPath(k)}/environments/production/enable`,
  },
  {
    name: 'roll back production',
    needs: 'publisher',
    method: 'POST',
    path: (k) => `${flagPath(k)}/environments/production/rollback`,
    body: () => ({ toVersion: 1 }),
    prepare: (store, key) =>
      store.flags.updateState(
        key,
        'production',
        { state: (state) => ({ ...state, enabled: true }) },
        { actor: 'setup' },
      ),
  },
  { name: 'archive', needs: 'editor', method: 'POST', path: (k) => `${flagPath(k)}/archive` },
  {
    name: 'read exposures',
    needs: 'viewer',
    method: 'GET',
    path: (k) => `${flagPath(k)}/exposures?environment=development`,
  },
  {
    name: 'report exposures with a control-plane token',
    needs: 'editor',
    method: 'POST',
    path: () => '/events/v1',
    body: (k) => ({ environment: 'development', events: [{ kind: 'exposure', flag: k, variant: 'on' }] }),
  },
  {
    name: 'apply',
    needs: 'editor',
    method: 'POST',
    path: () => '/api/v1/apply',
    body: (k) => ({ documents: [doc(`${k}-applied`)] }),
  },
  {
    name: 'create a segment',
    needs: 'editor',
    method: 'POST',
    path: () => '/api/v1/segments',
    body: (k) => ({ key: `${k}-segment`, environments: {} }),
  },
  { name: 'list tokens', needs: 'admin', method: 'GET', path: () => '/api/v1/tokens' },
  {
    name: 'create a token',
    needs: 'admin',
    method: 'POST',
    path: () => '/api/v1/tokens',
    body: () => ({ name: 'm', role: 'viewer' }),
  },
  {
    name: 'create an environment',
    needs: 'admin',
    method: 'POST',
    path: () => '/api/v1/environments',
    body: () => ({ name: `env${++counter.n}` }),
  },
  {
    name: 'change an environment',
    needs: 'admin',
    method: 'PATCH',
    path: () => '/api/v1/environments/development',
    body: () => ({ description: `changed ${++counter.n}` }),
  },
];

describe('access matrix: every route × every role', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  const tokens = new Map<Role, string>();

  before(async () => {
    temp = temporaryStore();
    store = temp.store;
    await bootstrap(store);
    for (const role of ROLES) {
      const { value, record } = newToken(role, role);
      await store.tokens.create(record, { actor: 'test' });
      tokens.set(role, value);
    }
    app = await buildServer({ store, rateLimits: false });
    base = await listenOnLoopback(app);
  });
  after(async () => {
    await app.close();
    await temp.remove();
  });

  for (const route of ROUTES) {
    it(`${route.name}: allowed from ${route.needs} up, 403 below`, async () => {
      for (const role of ROLES) {
        const key = `matrix/ns/f${++counter.n}`;
        await store.flags.create(doc(key), { actor: 'setup' });
        await route.prepare?.(store, key);
        const headers: Record<string, string> = { authorization: `Bearer ${tokens.get(role)}` };
        if (route.body) headers['content-type'] = 'application/json';
        if (route.ifMatch)
          headers['if-match'] = `"${(await store.flags.state(key, 'development'))!.version}"`;
        const response = await fetch(`${base}${route.path(key)}`, {
          method: route.method,
          headers,
          ...(route.body ? { body: JSON.stringify(route.body(key)) } : {}),
        });
        const allowed = ROLES.indexOf(role) >= ROLES.indexOf(route.needs);
        const text = await response.text();
        if (allowed) assert.ok(response.status < 400, `${role} → ${response.status}: ${text}`);
        else assert.equal(response.status, 403, `${role} → ${response.status}: ${text}`);
      }
    });
  }
});
