/**
 * The authorization model of SECURITY.md, checked against a real server: the route table is parsed at
 * test time, random tokens (every role, random namespace and environment scopes, the bootstrap admin, and
 * missing, unknown, revoked and expired credentials) send requests that are valid apart from
 * authorization, and each answer must be what the table allows: the allowed status, or a refusal (401,
 * 403, or 404 where the table hides existence) that changed nothing (every ledger head stays as it was).
 *
 * Every route of `/openapi.json` needs a row of the table and a request builder here; a row for a route
 * the server does not register fails too. Replay a failure with SWITCHYARD_TEST_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type FlagStore, keyring, SYSTEM_NAMESPACE } from '@switchyard/store';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { listenOnLoopback, temporaryStore } from '../testing.js';
import { newToken, ROLES, SDK_ROLES } from './access.js';
import { bootstrap } from './bootstrap.js';

// ---------------------------------------------------------------------------------------------------
// The table of SECURITY.md

interface Row {
  family: string;
  method: string;
  route: string;
  /** Alternatives: `none`, `refused`, `viewer+`, `sdk-server`, … and `protected:<role>+`. */
  roles: string[];
  namespaces: string[];
  environments: string[];
  allowed: number[];
}

const firstCode = (cell: string) => /`([^`]*)`/.exec(cell)?.[1]?.trim() ?? '';

function readTable(): Row[] {
  const text = readFileSync(new URL('../../../../SECURITY.md', import.meta.url), 'utf8');
  const lines = text.split('\n');
  const header = lines.findIndex((l) =>
    /^\|\s*family\s*\|\s*method\s*\|\s*route\s*\|\s*minimum role\s*\|\s*namespace scope\s*\|\s*environment scope\s*\|\s*allowed\s*\|$/.test(
      l.trim(),
    ),
  );
  assert.ok(header >= 0, 'SECURITY.md has no route table (family | method | route | … | allowed)');
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1);
    assert.equal(cells.length, 7, `a row of the route table has ${cells.length} cells: ${line}`);
    const [family, method, route, roles, namespaces, environments, allowed] = cells as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    rows.push({
      family: family.trim(),
      method: method.trim(),
      route: firstCode(route),
      roles: firstCode(roles).split(/\s+/),
      namespaces: firstCode(namespaces).split(/\s+/),
      environments: firstCode(environments).split(/\s+/),
      allowed: firstCode(allowed).split(/\s+/).map(Number),
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Principals and what the model says about them

const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
const PROTECTED = new Set(['production']);
const NAMESPACES = ['team/a', 'team/a/sub', 'team/b'] as const;
const SCOPES = ['team', 'team/a', 'team/a/sub', 'team/b'] as const;
const CONTROL_ROLES: readonly string[] = ROLES;

type Credential = 'token' | 'bootstrap' | 'none' | 'garbage' | 'unknown' | 'revoked' | 'expired';

interface TokenSpec {
  credential: Credential;
  role: string;
  namespaces: string[];
  environments: string[];
  /** The explicit right to read sensitive values (sdk-server keys have it implicitly). */
  readSensitive: boolean;
}

/** The plaintext of the sensitive fixture flag: no answer may show it to a principal that may not read it. */
const SECRET = 'plaintext-of-a-sensitive-value';
const maySeeSensitive = (p: TokenSpec) => p.role === 'sdk-server' || p.readSensitive;

const namespaceCovered = (scopes: readonly string[], ns: string) =>
  scopes.length === 0 || scopes.some((s) => ns === s || ns.startsWith(`${s}/`));
const environmentCovered = (scopes: readonly string[], env: string) =>
  scopes.length === 0 || scopes.includes(env);
const scopesWithin = (
  inner: { namespaces: readonly string[]; environments: readonly string[] },
  outer: { namespaces: readonly string[]; environments: readonly string[] },
) =>
  (outer.namespaces.length === 0 ||
    (inner.namespaces.length > 0 && inner.namespaces.every((n) => namespaceCovered(outer.namespaces, n)))) &&
  (outer.environments.length === 0 ||
    (inner.environments.length > 0 &&
      inner.environments.every((e) => environmentCovered(outer.environments, e))));

/** What a request is about, as the builder made it. */
interface Request {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Namespaces it reads or writes (named in path, query or body). */
  namespaces: string[];
  /** Environments it names. */
  environments: string[];
  /** It touches a protected environment (names it, or changes something live there). */
  protectedTouched?: boolean;
  /** The token a token-admin request creates or revokes. */
  target?: { namespaces: string[]; environments: string[]; readSensitive?: boolean };
  /** The answer is an event stream: read the status and headers, then hang up. */
  stream?: boolean;
}

const roleMeets = (role: string, alternative: string) => {
  if (alternative.endsWith('+')) {
    const needed = CONTROL_ROLES.indexOf(alternative.slice(0, -1));
    return CONTROL_ROLES.includes(role) && CONTROL_ROLES.indexOf(role) >= needed;
  }
  return role === alternative;
};

/** The model's answer: `allowed`, or the status of the refusal. */
function expected(row: Row, token: TokenSpec, request: Request): 'allowed' | 401 | 403 | 404 {
  if (row.roles.includes('none')) return 'allowed';
  if (token.credential !== 'token' && token.credential !== 'bootstrap') return 401;
  if (row.roles.includes('refused')) return 403;
  const raised = row.roles.find((r) => r.startsWith('protected:'));
  const alternatives = row.roles.filter((r) => !r.startsWith('protected:'));
  if (!alternatives.some((a) => roleMeets(token.role, a))) return 403;
  if (raised !== undefined && request.protectedTouched && CONTROL_ROLES.includes(token.role)) {
    if (!roleMeets(token.role, raised.slice('protected:'.length))) return 403;
  }
  const [nsRule, ...nsExtra] = row.namespaces;
  const [envRule] = row.environments;
  if (request.namespaces.includes(SYSTEM_NAMESPACE)) {
    if (nsExtra.includes('system:refused')) return 403;
    if (
      nsExtra.includes('system:admin-unscoped') &&
      (token.role !== 'admin' || token.namespaces.length > 0 || token.environments.length > 0)
    ) {
      return 403;
    }
  }
  const ns = scopeVerdict(nsRule!, token.namespaces.length === 0, () =>
    request.namespaces.every((n) => namespaceCovered(token.namespaces, n)),
  );
  const env = scopeVerdict(envRule!, token.environments.length === 0, () =>
    request.environments.every((e) => environmentCovered(token.environments, e)),
  );
  if (ns === 403 || env === 403) return 403;
  if (nsRule!.startsWith('within') || envRule!.startsWith('within')) {
    const within =
      scopesWithin(request.target!, token) && (request.target!.readSensitive !== true || token.readSensitive);
    if (!within) return nsRule === 'within/404' ? 404 : 403;
  }
  return 'allowed';
}

function scopeVerdict(rule: string, unscoped: boolean, covered: () => boolean): 'ok' | 403 {
  switch (rule) {
    case 'covered':
      return covered() ? 'ok' : 403;
    case 'all':
    case 'unscoped':
      return unscoped ? 'ok' : 403;
    case 'filtered':
    case 'redacted':
    case 'within':
    case 'within/404':
    case '-':
      return 'ok';
    default:
      throw new Error(`SECURITY.md: unknown scope rule "${rule}"`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Requests that are valid apart from authorization, one builder per route

/** Random choices of one case, from fast-check's generated numbers. */
class Picks {
  private i = 0;
  constructor(private readonly numbers: readonly number[]) {}
  next(): number {
    const n = this.numbers[this.i % this.numbers.length]!;
    this.i++;
    return n;
  }
  one<T>(items: readonly T[]): T {
    return items[this.next() % items.length]!;
  }
  chance(): boolean {
    return this.next() % 2 === 0;
  }
  some<T>(items: readonly T[], max = items.length): T[] {
    const count = this.next() % (max + 1);
    return [...new Set(Array.from({ length: count }, () => this.one(items)))];
  }
}

interface Context {
  store: FlagStore;
  picks: Picks;
  fresh(): string;
}

const SETUP = { actor: 'setup' };
const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;
const segmentPath = (key: string) => `/api/v1/segments/${encodeURIComponent(key)}`;
const state = (enabled: boolean) => ({ enabled, offVariation: 'off', default: 'on' });
const flagDoc = (key: string, environments: Record<string, unknown>) => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  environments,
});

/** A flag made with the store for a write to act on: enabled in some environments. */
async function preparedFlag(c: Context, ns: string, archived = false) {
  const key = `${ns}/${c.fresh()}`;
  const enabledIn = c.picks.some(ENVIRONMENTS);
  await c.store.flags.create(
    flagDoc(key, Object.fromEntries(ENVIRONMENTS.map((e) => [e, state(enabledIn.includes(e))]))),
    SETUP,
  );
  if (archived) await c.store.flags.archive(key, SETUP);
  return { key, protectedTouched: enabledIn.some((e) => PROTECTED.has(e)) };
}

const readNamespace = (c: Context) => c.picks.one(NAMESPACES);
/** Writes sometimes aim at the reserved namespace, which nobody may write. */
const writeNamespace = (c: Context) => (c.picks.next() % 8 === 0 ? SYSTEM_NAMESPACE : readNamespace(c));

type Builder = (c: Context) => Promise<Request>;

const get =
  (path: string): Builder =>
  async () => ({ method: 'GET', path, namespaces: [], environments: [] });

const BUILDERS: Record<string, Builder> = {
  'GET /': get('/'),
  'GET /healthz': get('/healthz'),
  'GET /readyz': get('/readyz'),
  'GET /metrics': get('/metrics'),
  'GET /openapi.json': get('/openapi.json'),
  'GET /docs': get('/docs'),
  'GET /api/v1/flags': async (c) => {
    const env = c.picks.chance() ? c.picks.one(ENVIRONMENTS) : undefined;
    return {
      method: 'GET',
      path: `/api/v1/flags${env === undefined ? '' : `?enabledIn=${env}`}`,
      namespaces: [],
      environments: env === undefined ? [] : [env],
    };
  },
  'GET /api/v1/flags/{key}': async (c) => {
    const ns = readNamespace(c);
    const name = ns === 'team/a' && c.picks.chance() ? 'secret' : 'read';
    return { method: 'GET', path: flagPath(`${ns}/${name}`), namespaces: [ns], environments: [] };
  },
  'GET /api/v1/flags/{key}/environments/{env}': async (c) => {
    const [ns, env] = [readNamespace(c), c.picks.one(ENVIRONMENTS)];
    return {
      method: 'GET',
      path: `${flagPath(`${ns}/read`)}/environments/${env}`,
      namespaces: [ns],
      environments: [env],
    };
  },
  'GET /api/v1/flags/{key}/environments/{env}/history': async (c) => {
    const [ns, env] = [readNamespace(c), c.picks.one(ENVIRONMENTS)];
    return {
      method: 'GET',
      path: `${flagPath(`${ns}/read`)}/environments/${env}/history`,
      namespaces: [ns],
      environments: [env],
    };
  },
  'GET /api/v1/flags/{key}/exposures': async (c) => {
    const [ns, env] = [readNamespace(c), c.picks.one(ENVIRONMENTS)];
    return {
      method: 'GET',
      path: `${flagPath(`${ns}/read`)}/exposures?environment=${env}`,
      namespaces: [ns],
      environments: [env],
    };
  },
  'GET /api/v1/segments/{key}': async (c) => {
    const ns = readNamespace(c);
    return { method: 'GET', path: segmentPath(`${ns}/read`), namespaces: [ns], environments: [] };
  },
  'GET /api/v1/events': async (c) => {
    const ns = c.picks.one([...NAMESPACES, SYSTEM_NAMESPACE]);
    return {
      method: 'GET',
      path: `/api/v1/events?namespace=${encodeURIComponent(ns)}`,
      namespaces: [ns],
      environments: [],
    };
  },
  'GET /api/v1/events/verify': async (c) => {
    const ns = c.picks.one([...NAMESPACES, SYSTEM_NAMESPACE]);
    return {
      method: 'GET',
      path: `/api/v1/events/verify?namespace=${encodeURIComponent(ns)}`,
      namespaces: [ns],
      environments: [],
    };
  },
  'POST /api/v1/flags': async (c) => {
    const ns = writeNamespace(c);
    const envs = c.picks.some(ENVIRONMENTS, 2);
    return {
      method: 'POST',
      path: '/api/v1/flags',
      body: flagDoc(`${ns}/${c.fresh()}`, Object.fromEntries(envs.map((e) => [e, state(c.picks.chance())]))),
      namespaces: [ns],
      environments: envs,
      protectedTouched: envs.some((e) => PROTECTED.has(e)),
    };
  },
  'PATCH /api/v1/flags/{key}': async (c) => {
    const ns = writeNamespace(c);
    const { key } = await preparedFlag(c, ns);
    return {
      method: 'PATCH',
      path: flagPath(key),
      body: { description: 'changed' },
      namespaces: [ns],
      environments: [],
    };
  },
  'POST /api/v1/flags/{key}/archive': async (c) => {
    const ns = writeNamespace(c);
    const { key, protectedTouched } = await preparedFlag(c, ns);
    return {
      method: 'POST',
      path: `${flagPath(key)}/archive`,
      namespaces: [ns],
      environments: [],
      protectedTouched,
    };
  },
  'POST /api/v1/flags/{key}/restore': async (c) => {
    const ns = writeNamespace(c);
    const { key, protectedTouched } = await preparedFlag(c, ns, true);
    return {
      method: 'POST',
      path: `${flagPath(key)}/restore`,
      namespaces: [ns],
      environments: [],
      protectedTouched,
    };
  },
  'DELETE /api/v1/flags/{key}': async (c) => {
    const ns = writeNamespace(c);
    const { key, protectedTouched } = await preparedFlag(c, ns, true);
    return { method: 'DELETE', path: flagPath(key), namespaces: [ns], environments: [], protectedTouched };
  },
  'PUT /api/v1/flags/{key}/environments/{env}': async (c) => {
    const [ns, env] = [writeNamespace(c), c.picks.one(ENVIRONMENTS)];
    const { key } = await preparedFlag(c, ns);
    const version = (await c.store.flags.state(key, env))!.version;
    return {
      method: 'PUT',
      path: `${flagPath(key)}/environments/${env}`,
      body: state(c.picks.chance()),
      headers: { 'if-match': `"${version}"` },
      namespaces: [ns],
      environments: [env],
      protectedTouched: PROTECTED.has(env),
    };
  },
  'POST /api/v1/flags/{key}/environments/{env}/{action}': async (c) => {
    const [ns, env, action] = [
      writeNamespace(c),
      c.picks.one(ENVIRONMENTS),
      c.picks.one(['enable', 'disable', 'rollback']),
    ];
    const { key } = await preparedFlag(c, ns);
    if (action === 'rollback') {
      await c.store.flags.updateState(key, env, { state: (s) => ({ ...s, enabled: !s.enabled }) }, SETUP);
    }
    return {
      method: 'POST',
      path: `${flagPath(key)}/environments/${env}/${action}`,
      ...(action === 'rollback' ? { body: { toVersion: 1 } } : {}),
      namespaces: [ns],
      environments: [env],
      protectedTouched: PROTECTED.has(env),
    };
  },
  'POST /api/v1/segments': async (c) => {
    const ns = writeNamespace(c);
    const envs = c.picks.some(ENVIRONMENTS, 2);
    return {
      method: 'POST',
      path: '/api/v1/segments',
      body: {
        key: `${ns}/${c.fresh()}`,
        environments: Object.fromEntries(envs.map((e) => [e, { included: ['u1'] }])),
      },
      namespaces: [ns],
      environments: envs,
      protectedTouched: envs.some((e) => PROTECTED.has(e)),
    };
  },
  'PUT /api/v1/segments/{key}/environments/{env}': async (c) => {
    const [ns, env] = [writeNamespace(c), c.picks.one(ENVIRONMENTS)];
    const key = `${ns}/${c.fresh()}`;
    const view = await c.store.segments.create({ kind: 'segment', key, environments: {} }, SETUP);
    return {
      method: 'PUT',
      path: `${segmentPath(key)}/environments/${env}`,
      body: { included: ['u2'] },
      headers: { 'if-match': `"${view.states[env]!.version}"` },
      namespaces: [ns],
      environments: [env],
      protectedTouched: PROTECTED.has(env),
    };
  },
  'DELETE /api/v1/segments/{key}': async (c) => {
    const ns = writeNamespace(c);
    const key = `${ns}/${c.fresh()}`;
    const envs = c.picks.some(ENVIRONMENTS, 2);
    await c.store.segments.create(
      { kind: 'segment', key, environments: Object.fromEntries(envs.map((e) => [e, { included: ['u1'] }])) },
      SETUP,
    );
    return {
      method: 'DELETE',
      path: segmentPath(key),
      namespaces: [ns],
      environments: [],
      protectedTouched: envs.some((e) => PROTECTED.has(e)),
    };
  },
  'POST /api/v1/apply': async (c) => {
    const ns = writeNamespace(c);
    const envs = c.picks.some(ENVIRONMENTS, 2);
    return {
      method: 'POST',
      path: '/api/v1/apply',
      body: {
        documents: [
          flagDoc(`${ns}/${c.fresh()}`, Object.fromEntries(envs.map((e) => [e, state(c.picks.chance())]))),
        ],
      },
      namespaces: [ns],
      environments: envs,
      protectedTouched: envs.some((e) => PROTECTED.has(e)),
    };
  },
  'GET /api/v1/environments': get('/api/v1/environments'),
  'POST /api/v1/environments': async (c) => ({
    method: 'POST',
    path: '/api/v1/environments',
    body: { name: c.fresh() },
    namespaces: [],
    environments: [],
  }),
  'PATCH /api/v1/environments/{name}': async (c) => ({
    method: 'PATCH',
    path: `/api/v1/environments/${c.picks.one(['development', 'staging'])}`,
    body: { description: `changed ${c.fresh()}` },
    namespaces: [],
    environments: [],
  }),
  'POST /api/v1/tokens': async (c) => {
    const role = c.picks.one([...ROLES, ...SDK_ROLES]);
    const target = {
      namespaces: c.picks.some(SCOPES, 2),
      environments: SDK_ROLES.includes(role as never)
        ? [c.picks.one(ENVIRONMENTS)]
        : c.picks.some(ENVIRONMENTS, 2),
      ...(c.picks.next() % 4 === 0 ? { readSensitive: true } : {}),
    };
    return {
      method: 'POST',
      path: '/api/v1/tokens',
      body: { name: c.fresh(), role, ...target },
      namespaces: [],
      environments: [],
      target,
    };
  },
  'GET /api/v1/tokens': get('/api/v1/tokens'),
  'DELETE /api/v1/tokens/{id}': async (c) => {
    const target = { namespaces: c.picks.some(SCOPES, 2), environments: c.picks.some(ENVIRONMENTS, 2) };
    const { record } = newToken(c.fresh(), c.picks.one(ROLES), target);
    await c.store.tokens.create(record, SETUP);
    return {
      method: 'DELETE',
      path: `/api/v1/tokens/${record.id}`,
      namespaces: [],
      environments: [],
      target,
    };
  },
  'GET /sdk/v1/snapshot': async (c) => deliveryRead(c, 'GET', '/sdk/v1/snapshot', false),
  'GET /sdk/v1/stream': async (c) => deliveryRead(c, 'GET', '/sdk/v1/stream', true),
  'POST /sdk/v1/stream': async (c) => deliveryRead(c, 'POST', '/sdk/v1/stream', true),
  'GET /sdk/v1/whoami': get('/sdk/v1/whoami'),
  'POST /ofrep/v1/evaluate/flags': async (c) => {
    const env = c.picks.one(ENVIRONMENTS);
    const ns = c.picks.chance() ? readNamespace(c) : undefined;
    return {
      method: 'POST',
      path: `/ofrep/v1/evaluate/flags?env=${env}${ns === undefined ? '' : `&namespaces=${ns}`}`,
      body: { context: { targetingKey: 'user-1' } },
      namespaces: ns === undefined ? [] : [ns],
      environments: [env],
    };
  },
  'POST /ofrep/v1/evaluate/flags/{*}': async (c) => {
    const [ns, env] = [readNamespace(c), c.picks.one(ENVIRONMENTS)];
    return {
      method: 'POST',
      path: `/ofrep/v1/evaluate/flags/${ns}/read?env=${env}`,
      body: { context: { targetingKey: 'user-1' } },
      namespaces: [ns],
      environments: [env],
    };
  },
  'GET /ofrep/v1/configuration': get('/ofrep/v1/configuration'),
  'POST /events/v1': async (c) => {
    const [ns, env] = [readNamespace(c), c.picks.one(ENVIRONMENTS)];
    return {
      method: 'POST',
      path: '/events/v1',
      body: { environment: env, events: [{ kind: 'exposure', flag: `${ns}/read`, variant: 'on' }] },
      namespaces: [ns],
      environments: [env],
    };
  },
};

function deliveryRead(c: Context, method: string, path: string, stream: boolean): Request {
  const env = c.picks.one(ENVIRONMENTS);
  const ns = c.picks.chance() ? readNamespace(c) : undefined;
  const selection = { env, ...(ns === undefined ? {} : { namespaces: ns }) };
  return {
    method,
    path: method === 'GET' ? `${path}?${new URLSearchParams(selection)}` : path,
    ...(method === 'GET' ? {} : { body: selection }),
    namespaces: ns === undefined ? [] : [ns],
    environments: [env],
    stream,
  };
}

// ---------------------------------------------------------------------------------------------------
// The run

const SEED = Number(process.env.SWITCHYARD_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Cases per route: about 40 routes × this many requests stays under a minute on a slow machine. */
const RUNS_PER_ROUTE = Number(process.env.SWITCHYARD_AUTHZ_RUNS ?? 25);
/** Random principals of a run, made in the store before the server starts. */
const POOL_SIZE = 80;

const tokenArbitrary: fc.Arbitrary<TokenSpec> = fc.record({
  credential: fc.constantFrom<Credential>(
    'token',
    'token',
    'token',
    'token',
    'token',
    'token',
    'bootstrap',
    'none',
    'garbage',
    'unknown',
    'revoked',
    'expired',
  ),
  role: fc.constantFrom(...ROLES, ...SDK_ROLES),
  namespaces: fc.uniqueArray(fc.constantFrom(...SCOPES), { maxLength: 2 }),
  environments: fc.uniqueArray(fc.constantFrom(...ENVIRONMENTS), { maxLength: 2 }),
  readSensitive: fc.boolean(),
});

interface Answer {
  status: number;
  body: unknown;
  text: string;
}

describe('the authorization model of SECURITY.md, against a real server', () => {
  const rows = readTable();
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let admin: string;
  let counter = 0;
  const fresh = () => `p${++counter}`;
  // biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is read loosely
  let openapi: any;
  /** The principals of the run, made once: the bootstrap admin first, then random ones. */
  const pool: { spec: TokenSpec; authorization?: string; principal: TokenSpec }[] = [];

  before(async () => {
    temp = temporaryStore({ encryptionKeys: keyring([randomBytes(32)]) });
    store = temp.store;
    admin = (await bootstrap(store)).adminToken!;
    await store.flags.create(
      {
        key: 'team/a/secret',
        type: 'string',
        sensitive: true,
        variations: { secret: SECRET, plain: 'plain' },
        environments: Object.fromEntries(
          ENVIRONMENTS.map((e) => [e, { enabled: true, offVariation: 'plain', default: 'secret' }]),
        ),
      },
      SETUP,
    );
    for (const ns of NAMESPACES) {
      await store.flags.create(
        flagDoc(`${ns}/read`, Object.fromEntries(ENVIRONMENTS.map((e) => [e, state(true)]))),
        SETUP,
      );
      await store.segments.create(
        {
          kind: 'segment',
          key: `${ns}/read`,
          environments: Object.fromEntries(ENVIRONMENTS.map((e) => [e, { included: [`member-of-${e}`] }])),
        },
        SETUP,
      );
    }
    const bootstrapAdmin: TokenSpec = {
      credential: 'bootstrap',
      role: 'admin',
      namespaces: [],
      environments: [],
      readSensitive: true,
    };
    for (const spec of [bootstrapAdmin, ...fc.sample(tokenArbitrary, { numRuns: POOL_SIZE, seed: SEED })]) {
      pool.push({ spec, ...(await credentialOf(spec)) });
    }
    app = await buildServer({ store, rateLimits: false, delivery: { authCacheMs: 0 } });
    base = await listenOnLoopback(app);
    openapi = (await call({ method: 'GET', path: '/openapi.json', namespaces: [], environments: [] })).body;
  });
  after(async () => {
    await app?.close();
    await temp?.remove();
  });

  /**
   * The Authorization header for a token of the spec (made in the store), and the principal the model
   * judges: the bootstrap admin is unscoped, an SDK key has one environment.
   */
  async function credentialOf(spec: TokenSpec): Promise<{ authorization?: string; principal: TokenSpec }> {
    switch (spec.credential) {
      case 'none':
        return { principal: spec };
      case 'garbage':
        return { authorization: 'Bearer not-a-token', principal: spec };
      case 'unknown':
        return { authorization: `Bearer ${newToken('unknown', 'admin').value}`, principal: spec };
      case 'bootstrap':
        return {
          authorization: `Bearer ${admin}`,
          // The first admin token may read sensitive values (bootstrap.ts).
          principal: { ...spec, role: 'admin', namespaces: [], environments: [], readSensitive: true },
        };
      default: {
        const sdk = (SDK_ROLES as readonly string[]).includes(spec.role);
        const principal: TokenSpec = {
          ...spec,
          environments: sdk ? [spec.environments[0] ?? 'development'] : spec.environments,
          readSensitive: spec.readSensitive && !sdk,
        };
        const { value, record } = newToken(fresh(), spec.role as never, {
          ...principal,
          readSensitive: principal.readSensitive,
        });
        const expiresAt =
          spec.credential === 'expired' ? { expiresAt: new Date(Date.now() - 60_000).toISOString() } : {};
        await store.tokens.create({ ...record, ...expiresAt }, SETUP);
        if (spec.credential === 'revoked') await store.tokens.revoke(record.id, SETUP);
        return { authorization: `Bearer ${value}`, principal };
      }
    }
  }

  async function call(request: Request, authorization?: string): Promise<Answer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15_000);
    try {
      const response = await fetch(`${base}${request.path}`, {
        method: request.method,
        headers: {
          ...(authorization === undefined ? {} : { authorization }),
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...request.headers,
        },
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        signal: controller.signal,
      });
      if (request.stream && response.status === 200) {
        controller.abort();
        return { status: 200, body: undefined, text: '' };
      }
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.status, body, text };
    } finally {
      clearTimeout(timer);
    }
  }

  const heads = async () =>
    JSON.stringify(
      await Promise.all([...NAMESPACES, SYSTEM_NAMESPACE].map((ns) => store.adapter.ledgerHead(ns))),
    );

  const routesOfOpenapi = (): string[] =>
    Object.entries(openapi.paths as Record<string, object>).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );

  it('has a row of the table for every route of /openapi.json', () => {
    const documented = new Set(rows.map((r) => `${r.method} ${r.route}`));
    const missing = routesOfOpenapi().filter((r) => !documented.has(r));
    assert.deepEqual(missing, [], `SECURITY.md's route table lacks rows for: ${missing.join(', ')}`);
  });

  it('documents only routes the server registers', () => {
    const absent = rows.filter(
      (r) =>
        !app.hasRoute({
          method: r.method as 'GET',
          url: r.route.replace(/\{(\w+)\}/g, ':$1').replace('{*}', '*'),
        }),
    );
    assert.deepEqual(
      absent.map((r) => `${r.method} ${r.route}`),
      [],
      'SECURITY.md names routes the server does not register',
    );
  });

  it('has a request builder for every row of the table', () => {
    const unbuilt = rows.map((r) => `${r.method} ${r.route}`).filter((r) => BUILDERS[r] === undefined);
    assert.deepEqual(unbuilt, [], 'rows without a request builder in this test');
  });

  for (const [index, row] of readTable().entries()) {
    const name = `${row.method} ${row.route}`;
    it(`${name} (${row.family}): answers what the table allows, and a refusal changes nothing`, async (t) => {
      const build = BUILDERS[name];
      if (build === undefined) return t.skip('no request builder');
      if (
        !app.hasRoute({
          method: row.method as 'GET',
          url: row.route.replace(/\{(\w+)\}/g, ':$1').replace('{*}', '*'),
        })
      ) {
        return t.skip('the server does not register this route');
      }
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.nat({ max: POOL_SIZE }),
            fc.array(fc.nat(1000), { minLength: 8, maxLength: 8 }),
            async (which, numbers) => {
              const { spec, authorization, principal } = pool[which]!;
              const request = await build({ store, picks: new Picks(numbers), fresh });
              const before = await heads();
              const answer = await call(request, authorization);
              const want = expected(row, principal, request);
              const who = `${spec.credential} ${principal.role} ns=[${principal.namespaces}] env=[${principal.environments}]`;
              const what = `${request.method} ${request.path} ${JSON.stringify(request.body ?? '')}`;
              const detail = `${who} → ${what}: ${answer.status} ${answer.text.slice(0, 300)}`;
              assert.ok(
                maySeeSensitive(principal) || !answer.text.includes(SECRET),
                `a sensitive value in plaintext for a principal without readSensitive: ${detail}`,
              );
              if (want === 'allowed') {
                assert.ok(row.allowed.includes(answer.status), `allowed by the table, answered: ${detail}`);
                checkFiltered(principal, answer.body, detail);
              } else {
                assert.equal(answer.status, want, `refused by the table (${want}), answered: ${detail}`);
                assert.equal(await heads(), before, `a refused request changed the ledger: ${detail}`);
              }
            },
          ),
          { seed: SEED + index, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
        );
      } catch (error) {
        throw new Error(`replay with SWITCHYARD_TEST_SEED=${SEED}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
  }
});

/** What an allowed answer may show: states of covered environments and tokens within the caller's scopes. */
function checkFiltered(spec: TokenSpec, body: unknown, detail: string): void {
  if (typeof body !== 'object' || body === null) return;
  const states = (body as { states?: unknown }).states;
  if (typeof states === 'object' && states !== null) {
    const outside = Object.keys(states).filter((e) => !environmentCovered(spec.environments, e));
    assert.deepEqual(outside, [], `states of environments outside the token's scope: ${detail}`);
  }
  const items = (body as { items?: unknown }).items;
  if (Array.isArray(items)) {
    for (const item of items as {
      key?: unknown;
      scopes?: { namespaces?: string[]; environments?: string[] };
    }[]) {
      if (typeof item.key === 'string' && item.key.includes('/')) {
        const ns = item.key.slice(0, item.key.lastIndexOf('/'));
        assert.ok(
          namespaceCovered(spec.namespaces, ns),
          `listed "${item.key}" outside the token's scope: ${detail}`,
        );
      }
      if (item.scopes !== undefined) {
        const target = {
          namespaces: item.scopes.namespaces ?? [],
          environments: item.scopes.environments ?? [],
        };
        assert.ok(scopesWithin(target, spec), `listed a token outside the caller's scopes: ${detail}`);
      }
    }
  }
}
