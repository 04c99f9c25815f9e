/**
 * Thousands of generated invalid requests against a real server: each gets a 4xx problem, none changes
 * anything (every ledger head is as before, no exposure is counted), and the server stays up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FlagStore, SYSTEM_NAMESPACE } from '@switchyard/store';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { bootstrap } from './governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from './testing.js';

const valid = {
  key: 'fuzz/target/flag',
  type: 'boolean',
  variations: { on: true, off: false },
  environments: { development: { enabled: true, offVariation: 'off', default: 'on' } },
};

/** Changes that make a valid flag document invalid, whatever else it holds. */
const breakDocument = fc.oneof(
  fc.string().map((key) => ({ ...valid, key: `Bad Key ${key}` })),
  fc.constantFrom('bool', 'integer', '', 'BOOLEAN').map((type) => ({ ...valid, type })),
  fc
    .anything()
    .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
    .map((variations) => ({ ...valid, variations })),
  fc.string({ minLength: 1 }).map((field) => ({ ...valid, [`x-${field}`]: 1 })),
  // Weights that sum to 101%.
  fc.integer({ min: 1, max: 99 }).map((on) => ({
    ...valid,
    environments: {
      development: { enabled: true, offVariation: 'off', default: { rollout: { on, off: 101 - on } } },
    },
  })),
  fc.string().map((op) => ({
    ...valid,
    environments: {
      development: {
        enabled: true,
        offVariation: 'off',
        default: 'on',
        rules: [{ id: 'r', when: [{ attribute: 'a', op: `~${op}`, values: [] }], serve: 'on' }],
      },
    },
  })),
  fc.constantFrom('enabled', 'offVariation', 'default').map((field) => {
    const { [field]: _dropped, ...state } = valid.environments.development as Record<string, unknown>;
    return { ...valid, environments: { development: state } };
  }),
);

const exposure = { kind: 'exposure', flag: 'fuzz/existing/flag', variant: 'on' };

/** Batches of exposure events, one of them broken. */
const breakExposures = fc
  .tuple(
    fc.oneof(
      fc.string().map((flag) => ({ ...exposure, flag: `Bad Key ${flag}` })),
      fc.string().map((variant) => ({ ...exposure, variant: `1${variant}` })),
      fc
        .anything()
        // Not 'exposure', nor anything the validator would coerce to it (['exposure']).
        .filter((kind) => !JSON.stringify(kind ?? null).includes('exposure'))
        .map((kind) => ({ ...exposure, kind })),
      fc
        .oneof(
          fc.integer({ max: 0 }),
          fc.double({ noInteger: true }),
          fc.string().map((text) => `n${text}`),
        )
        .map((count) => ({ ...exposure, count })),
      fc.string().map((time) => ({ ...exposure, time: `not a time ${time}` })),
      fc.string({ minLength: 1 }).map((field) => ({ ...exposure, [`x-${field}`]: 1 })),
      fc.constantFrom('flag', 'variant', 'kind').map((field) => {
        const { [field]: _dropped, ...event } = exposure as Record<string, unknown>;
        return event;
      }),
      fc.anything().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    ),
    fc.nat({ max: 5 }),
  )
  .map(([broken, at]) => {
    const events: unknown[] = Array.from({ length: 5 }, () => exposure);
    events.splice(at, 0, broken);
    return { environment: 'development', events };
  });

/** Bodies that are not a flag document at all. */
const garbage = fc.oneof(fc.anything(), fc.object(), fc.array(fc.anything()));

type Request = {
  method: string;
  path: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
};

const statePath = `/api/v1/flags/${encodeURIComponent('fuzz/existing/flag')}/environments/development`;

const requests: fc.Arbitrary<Request> = fc.oneof(
  breakDocument.map((body) => ({ method: 'POST', path: '/api/v1/flags', body })),
  garbage.map((body) => ({ method: 'POST', path: '/api/v1/flags', body })),
  fc.string().map((raw) => ({ method: 'POST', path: '/api/v1/flags', raw: `{${raw}` })),
  breakExposures.map((body) => ({ method: 'POST', path: '/events/v1', body })),
  garbage.map((body) => ({ method: 'POST', path: '/events/v1', body })),
  fc.record({ enabled: fc.anything(), offVariation: fc.anything() }).map((body) => ({
    method: 'PUT',
    path: statePath,
    body,
    headers: { 'if-match': '"1"' },
  })),
  fc.string().map((tag) => ({
    method: 'PUT',
    path: statePath,
    body: valid.environments.development,
    headers: { 'if-match': `x${tag}` },
  })),
  fc.integer({ min: 2, max: 1e6 }).map((v) => ({
    method: 'PUT',
    path: statePath,
    body: { ...valid.environments.development, enabled: false },
    headers: { 'if-match': `"${v}"` },
  })),
  fc.anything().map((toVersion) => ({
    method: 'POST',
    path: `${statePath}/rollback`,
    body: { toVersion: typeof toVersion === 'number' ? -1 : toVersion },
  })),
  fc
    .tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'), fc.webSegment())
    .map(([method, segment]) => ({
      method,
      path: `/api/v1/nowhere/${segment}`,
    })),
  fc
    .record({ name: fc.anything(), role: fc.string() })
    .map((body) => ({ method: 'POST', path: '/api/v1/tokens', body })),
  fc.anything().map((description) => ({
    method: 'PATCH',
    path: `/api/v1/flags/${encodeURIComponent('fuzz/existing/flag')}`,
    body: { description: typeof description === 'string' ? 1 : description, type: 'string' },
  })),
);

describe('generated invalid requests', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let token: string;

  before(async () => {
    temp = temporaryStore();
    store = temp.store;
    token = (await bootstrap(store)).adminToken!;
    await store.flags.create({ ...valid, key: 'fuzz/existing/flag' }, { actor: 'test' });
    app = await buildServer({ store, rateLimits: false, exposures: { flushIntervalMs: 10 } });
    base = await listenOnLoopback(app);
  });
  after(async () => {
    await app.close();
    await temp.remove();
  });

  const heads = async () =>
    Promise.all(['fuzz/existing', 'fuzz/target', SYSTEM_NAMESPACE].map((ns) => store.adapter.ledgerHead(ns)));

  it('answers 2,400 of them with a 4xx problem, changes nothing, and stays up', async () => {
    const before = await heads();
    const tokensBefore = await store.tokens.list({ limit: 100 });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const hasBody = request.body !== undefined || request.raw !== undefined;
        const response = await fetch(`${base}${request.path}`, {
          method: request.method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(hasBody ? { 'content-type': 'application/json' } : {}),
            ...request.headers,
          },
          ...(hasBody ? { body: request.raw ?? JSON.stringify(request.body) ?? 'null' } : {}),
        });
        const text = await response.text();
        sent++;
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${request.method} ${request.path} → ${response.status}: ${text}`,
        );
        assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
      }),
      { numRuns: 2400 },
    );
    assert.equal(sent, 2400);
    assert.deepEqual(await heads(), before, 'no ledger moved');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(
      await store.exposures.read('fuzz/existing/flag', 'development', 0, Date.now() + 3600_000),
      [],
      'no exposure counted',
    );
    assert.equal((await store.tokens.list({ limit: 100 })).length, tokensBefore.length);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});

describe('bodies, names and reasons over their limits', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: string;
  let token: string;

  before(async () => {
    temp = temporaryStore();
    store = temp.store;
    token = (await bootstrap(store)).adminToken!;
    app = await buildServer({ store, rateLimits: false });
    base = await listenOnLoopback(app);
  });
  after(async () => {
    await app.close();
    await temp.remove();
  });

  /** Sends raw bytes as a JSON body and expects a 400 problem whose detail matches `detail`. */
  async function refused(method: string, path: string, body: Buffer | string, detail: RegExp) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const problem = (await response.json()) as { status: number; detail: string };
    assert.equal(response.status, 400, `${method} ${path}: ${JSON.stringify(problem)}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(problem.detail, detail);
  }

  const heads = async () =>
    Promise.all(['deep/nest', 'edge/names', SYSTEM_NAMESPACE].map((ns) => store.adapter.ledgerHead(ns)));

  it('refuses JSON nested 6,000 and 10,000 levels deep with 400, and accepts 64 levels', async () => {
    const before = await heads();
    for (const depth of [6000, 10_000]) {
      await refused('POST', '/api/v1/flags', `${'['.repeat(depth)}${']'.repeat(depth)}`, /deeper than 64/);
      const object = `{"key":"deep/nest/flag","variations":{"on":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}`;
      await refused('POST', '/api/v1/flags', object, /deeper than 64/);
      await refused('POST', '/api/v1/apply', `{"documents":[${'['.repeat(depth)}]}`, /deeper than 64/);
    }
    const nested = `${'{"a":'.repeat(60)}true${'}'.repeat(60)}`;
    const accepted = await callApi(base, 'POST', '/api/v1/flags', {
      token,
      body: {
        key: 'deep/nest/json',
        type: 'json',
        variations: { on: JSON.parse(nested), off: {} },
        environments: { development: { enabled: false, offVariation: 'off', default: 'on' } },
      },
    });
    assert.equal(accepted.status, 201, accepted.text);
    assert.deepEqual((await heads()).slice(1), before.slice(1));
  });

  it('refuses invalid UTF-8, lone surrogates and __proto__ keys with 400, storing nothing', async () => {
    const before = await heads();
    const flag = (description: string) =>
      `{"key":"edge/names/flag","type":"boolean","description":"${description}","variations":{"on":true,"off":false},"environments":{}}`;
    const invalid = Buffer.concat([Buffer.from(flag('').slice(0, 50)), Buffer.from([0xc3, 0x28, 0xff])]);
    await refused('POST', '/api/v1/flags', invalid, /not valid UTF-8/);
    await refused('POST', '/api/v1/flags', flag('\\ud800 alone'), /lone UTF-16 surrogate/);
    await refused('POST', '/api/v1/flags', flag('x\\udfff'), /lone UTF-16 surrogate/);
    await refused(
      'POST',
      '/api/v1/flags',
      '{"key":"edge/names/flag","tags":{"\\ud800":1}}',
      /key .* lone UTF-16 surrogate/,
    );
    await refused('POST', '/api/v1/flags', '{"__proto__":{"admin":true}}', /__proto__/);
    assert.deepEqual(await heads(), before);
    // A pair of surrogates is a character like any other.
    const paired = await callApi(base, 'POST', '/api/v1/flags', {
      token,
      raw: flag('\\ud83d\\ude00 grin'),
    });
    assert.equal(paired.status, 201, paired.text);
  });

  it('refuses over-long namespaces and keys with a 4xx problem, never a 500', async () => {
    const namespace = `${'a'.repeat(3000)}/b`;
    for (const path of [
      `/api/v1/events?namespace=${namespace}`,
      `/api/v1/events/verify?namespace=${namespace}`,
      `/api/v1/flags?prefix=${namespace}`,
    ]) {
      const answer = await callApi(base, 'GET', path, { token });
      assert.equal(answer.status, 400, `${path.slice(0, 40)}: ${answer.text.slice(0, 200)}`);
      assert.match(answer.body.detail, /at most 1024 characters/);
    }
    for (const path of ['/api/v1/flags/', '/api/v1/segments/']) {
      const answer = await callApi(base, 'GET', `${path}${encodeURIComponent(`${namespace}/c`)}`, { token });
      assert.ok(answer.status >= 400 && answer.status < 500, `${path}: ${answer.status}`);
      assert.equal(answer.type, 'application/problem+json');
    }
    // A key of the longest valid length is not cut by the router.
    const longest = `edge/names/${'k'.repeat(256 - 'edge/names/'.length)}`;
    const missing = await callApi(base, 'GET', `/api/v1/flags/${encodeURIComponent(longest)}`, { token });
    assert.equal(missing.status, 404, missing.text.slice(0, 200));
  });

  it('refuses a change reason over 1,000 characters, in the header or the body, and the ledger stays as it was', async () => {
    const before = await heads();
    const document = {
      key: 'edge/names/reasoned',
      type: 'boolean',
      variations: { on: true, off: false },
      environments: {},
    };
    const long = 'r'.repeat(1001);
    const header = await callApi(base, 'POST', '/api/v1/flags', {
      token,
      body: document,
      headers: { 'x-change-reason': long },
    });
    assert.equal(header.status, 400, header.text.slice(0, 200));
    assert.match(header.body.detail, /X-Change-Reason: a change reason has at most 1000 characters/);
    const body = await callApi(base, 'POST', '/api/v1/apply', {
      token,
      body: { documents: [{ kind: 'flag', ...document }], reason: 'r'.repeat(900_000) },
    });
    assert.ok(body.status >= 400 && body.status < 500, `${body.status}: ${body.text.slice(0, 200)}`);
    assert.deepEqual(await heads(), before);
    const kept = await callApi(base, 'POST', '/api/v1/flags', {
      token,
      body: document,
      headers: { 'x-change-reason': 'r'.repeat(1000) },
    });
    assert.equal(kept.status, 201, kept.text.slice(0, 200));
  });
});
