/**
 * A fuzz run of the request surface: fast-check sends hostile requests to a real server (random methods,
 * the paths of `/openapi.json` with mutated and encoded segments, random headers and tokens, deep JSON,
 * invalid UTF-8, huge numbers) over raw HTTP. Every answer must be a well-formed HTTP response below 500
 * (the store is up, so not even 503), a JSON body must parse, and the server must stay up.
 *
 * The budget is small (a time limit and a number of runs) so that it fits `npm test`; set
 * SWITCHYARD_FUZZ_RUNS and SWITCHYARD_FUZZ_SECONDS for a longer run, SWITCHYARD_TEST_SEED to replay one.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { FlagStore } from '@switchyard/store';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './app.js';
import { newToken } from './governance/access.js';
import { bootstrap } from './governance/bootstrap.js';
import { listenOnLoopback, temporaryStore } from './testing.js';

const SEED = Number(process.env.SWITCHYARD_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 2000);
const SECONDS = Number(process.env.SWITCHYARD_FUZZ_SECONDS ?? 30);
/** How long one answer may take before the server counts as hung. */
const ANSWER_MS = 10_000;

interface Hostile {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  /** 0 when the server closed the connection on an oversized body before answering. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The connection was closed before the whole answer arrived (after an early answer to a large body). */
  truncated: boolean;
}

/** Bodies above this may be answered early and the connection closed while the client still sends. */
const EARLY_CLOSE_BYTES = 1024 * 1024;
const closedEarly = (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET' || error.code === 'EPIPE';

/** Sends a request as it is (no URL normalisation), and reads the answer; event streams are hung up on. */
function send(base: URL, hostile: Hostile): Promise<Answer> {
  const large = (hostile.body?.length ?? 0) > EARLY_CLOSE_BYTES;
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: base.hostname,
        port: base.port,
        method: hostile.method,
        path: hostile.path,
        headers: {
          ...hostile.headers,
          ...(hostile.body === undefined ? {} : { 'content-length': String(hostile.body.length) }),
        },
        agent: false,
        timeout: ANSWER_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        const done = (truncated: boolean) =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
            truncated,
          });
        if (String(response.headers['content-type']).startsWith('text/event-stream')) {
          response.destroy();
          return done(true);
        }
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(false));
        response.on('error', (error) => (large && closedEarly(error) ? done(true) : reject(error)));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${ANSWER_MS} ms`)));
    request.on('error', (error) =>
      large && closedEarly(error)
        ? resolve({ status: 0, headers: {}, body: Buffer.alloc(0), truncated: true })
        : reject(error),
    );
    request.end(hostile.body);
  });
}

// ---------------------------------------------------------------------------------------------------
// Hostile parts

const LONG = 'a'.repeat(5000);

/** What a path parameter becomes: plausible values, encodings that should change nothing, and junk. */
const segment = fc.oneof(
  fc.constantFrom('team/a/read', 'team%2Fa%2Fread', 'development', 'production', 'enable', 'rollback'),
  fc.constantFrom('..', '%2e%2e', '.', '%00', '%ZZ', '%', '%ff%fe', '%C0%AF', '%E2%80%AE', '%F0%9F%98%80'),
  fc.constantFrom('switchyard%2Fsystem%2Fx', '__proto__', 'constructor', LONG, '0'.repeat(400), '-1'),
  fc.stringMatching(/^[\w.~-]{0,40}$/),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
);

const QUERY_VALUES = fc.oneof(
  fc.constantFrom('development', 'production', 'nope', '', '-1', '1e309', '99999999999999999999', 'true'),
  fc.constantFrom('team/a', 'team/', '../', '*', 'switchyard/system', '%00', '%ff', LONG),
  fc.constantFrom(Buffer.from('{"namespace":"team/b","after":""}').toString('base64url')),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
);
const QUERY_NAMES = fc.constantFrom(
  'env',
  'namespaces',
  'namespace',
  'enabledIn',
  'region',
  'at',
  'cursor',
  'limit',
  'prefix',
  'from',
  'to',
  'environment',
  'since',
  'before',
  'version',
  '__proto__',
);
const query = fc
  .array(fc.tuple(QUERY_NAMES, QUERY_VALUES), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

/** Ways to spell a path that should reach the same route (or none), never around its checks. */
function mutate(path: string, how: number, at: number): string {
  const parts = path.split('/');
  const i = 1 + (at % Math.max(1, parts.length - 1));
  const part = parts[i] ?? '';
  switch (how) {
    case 0: {
      // Percent-encode one letter: /api → /%61pi.
      const j = at % Math.max(1, part.length);
      const c = part[j];
      if (c === undefined) return path;
      parts[i] = `${part.slice(0, j)}%${c.charCodeAt(0).toString(16).padStart(2, '0')}${part.slice(j + 1)}`;
      return parts.join('/');
    }
    case 1:
      parts[i] = part.toUpperCase();
      return parts.join('/');
    case 2:
      return `${path}/`;
    case 3:
      return path.replace('/', '//');
    case 4:
      parts.splice(i, 0, '.');
      return parts.join('/');
    case 5:
      parts.splice(i, 0, 'x', '..');
      return parts.join('/');
    case 6:
      return `/${path.slice(1).replace(/\//g, '%2F')}`;
    case 7:
      // Not origin-form: no leading "/".
      return path.slice(1);
    default:
      return path;
  }
}

function deep(levels: number, open: string, close: string): string {
  return open.repeat(levels) + close.repeat(levels);
}

const body: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        // Documents that look right, with hostile parts.
        '{"key":"team/a/fuzzed","type":"boolean","variations":{"on":true,"off":false},"environments":{"production":{"enabled":true,"offVariation":"off","default":"on"}}}',
        '{"key":"switchyard/system/x","type":"boolean","variations":{"on":true,"off":false},"environments":{}}',
        '{"key":"team/a/s","environments":{"production":{"included":["\\ud800"]}}}',
        '{"documents":[{"key":"team/a/x","type":"number","variations":{"a":1e309,"b":123456789012345678901234567890},"environments":{}}]}',
        '{"name":"production","protected":false}',
        '{"name":"x","role":"admin","namespaces":["../","*"],"expiresAt":"1969-01-01T00:00:00Z"}',
        '{"environment":"development","events":[{"kind":"exposure","flag":"team/a/read","variant":"on","time":"1969-12-31T23:59:59Z","count":9007199254740993}]}',
        '{"context":{"targetingKey":"user-1","email":"aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}}',
        '{"toVersion":-1}',
        '{"since":"team/a:99999999999999999999,x:1"}',
        '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}',
        '{"description":"x","reason":"',
        '{"a":1,"a":2}',
        '',
        'null',
        '[]',
      )
      .map((text) => Buffer.from(text)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(100, 2000, 6000, 10_000),
        fc.constantFrom(['[', ']'], ['{"a":', '}']),
        fc.constantFrom(
          (d: string) => d,
          (d: string) =>
            `{"key":"team/a/deep","type":"json","variations":{"a":${d},"b":1},"environments":{}}`,
          (d: string) =>
            `{"documents":[{"key":"team/a/deep","type":"json","variations":{"a":${d}},"environments":{}}]}`,
          (d: string) => `{"context":{"targetingKey":"user-1","nested":${d}}}`,
          (d: string) => `{"key":"team/a/deep-segment","environments":{"development":{"rules":${d}}}}`,
        ),
      )
      .map(([levels, [open, close], within]) => Buffer.from(within(deep(levels, open!, close!)))),
  },
  {
    weight: 2,
    // Invalid UTF-8: a lone continuation byte, an overlong '/', a truncated sequence, an unpaired surrogate.
    arbitrary: fc
      .constantFrom([0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xff, 0xfe])
      .map((bytes) => Buffer.concat([Buffer.from('{"key":"team/a/'), Buffer.from(bytes), Buffer.from('"}')])),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from(`{"description":"${'x'.repeat(1_200_000)}"}`)) },
);

/** A hostile value, as JSON text (or bytes that are not UTF-8), to put inside a document a route expects. */
const hostileValue: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .tuple(fc.constantFrom(100, 6000, 10_000), fc.constantFrom(['[', ']'], ['{"a":', '}']))
    .map(([levels, [open, close]]) => Buffer.from(deep(levels, open!, close!))),
  fc
    .constantFrom(
      '1e309',
      '-1e309',
      '123456789012345678901234567890',
      '-0',
      '9007199254740993',
      'null',
      '"\\ud800"',
    )
    .map((text) => Buffer.from(text)),
  fc
    .constantFrom(`"${'x'.repeat(100_000)}"`, '"a\\u0000b"', '{"__proto__":{"polluted":true}}')
    .map((t) => Buffer.from(t)),
  fc
    .constantFrom([0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff])
    .map((bytes) => Buffer.concat([Buffer.from('"'), Buffer.from(bytes), Buffer.from('"')])),
);

const FLAG = (variation: string) =>
  `{"key":"team/a/fuzz","type":"json","variations":{"a":${variation},"b":1},"environments":{"development":{"enabled":true,"offVariation":"b","default":"a"}}}`;

/** Documents shaped as each route expects, with a hostile value at `$V`. */
const SHAPES: Record<string, string[]> = {
  'POST /api/v1/flags': [
    FLAG('$V'),
    '{"key":$V,"type":"boolean","variations":{"on":true,"off":false},"environments":{}}',
  ],
  'POST /api/v1/apply': [`{"documents":[${FLAG('$V')}]}`, '{"documents":$V}', '{"documents":[],"dryRun":$V}'],
  'POST /api/v1/segments': ['{"key":"team/a/fuzz-segment","environments":{"development":{"included":[$V]}}}'],
  'PUT /api/v1/flags/{key}/environments/{env}': [
    '{"enabled":true,"offVariation":"off","default":"on","rules":[{"id":"r","when":[{"attribute":"a","op":"matches","values":[$V]}],"serve":"on"}]}',
    '{"enabled":$V,"offVariation":"off","default":"on"}',
  ],
  'PUT /api/v1/segments/{key}/environments/{env}': ['{"included":$V}', '{"rules":$V}'],
  'PATCH /api/v1/flags/{key}': ['{"description":$V}', '{"tags":$V}', '{"removeBy":$V}'],
  'POST /api/v1/flags/{key}/environments/{env}/{action}': ['{"toVersion":$V}'],
  'POST /api/v1/environments': ['{"name":$V}', '{"name":"fuzz","description":$V}'],
  'POST /api/v1/tokens': [
    '{"name":"fuzz","role":"viewer","namespaces":[$V]}',
    '{"name":"fuzz","role":"viewer","expiresAt":$V}',
  ],
  'POST /sdk/v1/stream': ['{"env":"development","since":$V}', '{"namespaces":$V}'],
  'POST /ofrep/v1/evaluate/flags': ['{"context":{"targetingKey":"user-1","x":$V}}', '{"context":$V}'],
  'POST /ofrep/v1/evaluate/flags/{*}': [
    '{"context":{"targetingKey":$V}}',
    '{"context":{"targetingKey":"u","x":$V}}',
  ],
  'POST /events/v1': [
    '{"environment":"development","events":[{"kind":"exposure","flag":"team/a/read","variant":"on","count":$V}]}',
    '{"environment":"development","events":[{"kind":"exposure","flag":"team/a/read","variant":"on","time":$V}]}',
    '{"environment":$V,"events":[]}',
  ],
};

/** A body for the route: mostly one shaped as it expects with a hostile value inside, else any body. */
function bodyFor(route: string): fc.Arbitrary<Buffer | undefined> {
  const shapes = SHAPES[route];
  if (shapes === undefined) return body;
  const shaped = fc.tuple(fc.constantFrom(...shapes), hostileValue).map(([shape, value]) => {
    const [head, tail] = shape.split('$V') as [string, string];
    return Buffer.concat([Buffer.from(head), value, Buffer.from(tail)]);
  });
  return fc.oneof({ weight: 3, arbitrary: shaped }, { weight: 1, arbitrary: body });
}

describe('fuzzing the request surface of a real server', () => {
  let temp: ReturnType<typeof temporaryStore>;
  let store: FlagStore;
  let app: FastifyInstance;
  let base: URL;
  const tokens: Record<string, string> = {};
  let templates: { method: string; path: string }[] = [];

  before(async () => {
    temp = temporaryStore();
    store = temp.store;
    tokens.admin = (await bootstrap(store)).adminToken!;
    const make = async (role: string, scopes: { namespaces?: string[]; environments?: string[] }) => {
      const { value, record } = newToken(role, role as never, scopes);
      await store.tokens.create(record, { actor: 'fuzz' });
      tokens[role] = value;
    };
    await make('viewer', { namespaces: ['team/a'], environments: ['staging'] });
    await make('editor', { environments: ['development'] });
    await make('sdk-server', { environments: ['development'] });
    await make('sdk-client', { environments: ['production'] });
    await store.flags.create(
      {
        key: 'team/a/read',
        type: 'boolean',
        variations: { on: true, off: false },
        environments: { development: { enabled: true, offVariation: 'off', default: 'on' } },
      },
      { actor: 'fuzz' },
    );
    app = await buildServer({ store });
    base = new URL(await listenOnLoopback(app));
    const openapi = JSON.parse(
      (await send(base, { method: 'GET', path: '/openapi.json', headers: {} })).body.toString(),
    );
    templates = [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/docs' },
      { method: 'GET', path: '/metrics' },
      ...Object.entries(openapi.paths as Record<string, object>).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => ({ method: method.toUpperCase(), path })),
      ),
    ];
    assert.ok(templates.length > 20, 'the OpenAPI document lists the routes');
  });
  after(async () => {
    await app?.close();
    await temp?.remove();
  });

  it('answers every hostile request with a well-formed response below 500, and stays up', async () => {
    const authorization = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(...Object.keys(tokens)).map((role) => `Bearer ${tokens[role]}`),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'Bearer not-a-token',
          `Bearer sy_${'0'.repeat(16)}_${'A'.repeat(43)}`,
          `Bearer ${'x'.repeat(8000)}`,
          'Basic YWRtaW46YWRtaW4=',
          'Bearer',
          'bearer  sy_',
          'none',
        ),
      },
    );
    const headers = fc
      .record(
        {
          authorization,
          'x-api-key': fc.constantFrom(tokens['sdk-client']!, 'nope'),
          'content-type': fc.constantFrom(
            'application/json',
            'application/json',
            'application/json',
            'application/json',
            'none',
            'application/json; charset=utf-16',
            'application/problem+json',
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/octet-stream',
          ),
          'if-match': fc.constantFrom('"1"', 'W/"2"', '*', '"-1"', '"99999999999999999999"', 'x'),
          'if-none-match': fc.constantFrom('*', '"abc"'),
          'idempotency-key': fc.constantFrom('k1', 'k2', 'x'.repeat(300)),
          'x-change-reason': fc.constantFrom('because', 'y'.repeat(5000)),
          'x-request-id': fc.constantFrom('abc', '../../etc', 'z'.repeat(300)),
          'last-event-id': fc.constantFrom('team/a:1', 'garbage', '-1'),
          origin: fc.constantFrom('https://example.com', 'null'),
          'accept-encoding': fc.constantFrom('gzip', 'br', 'identity'),
        },
        { requiredKeys: ['authorization', 'content-type'] },
      )
      // 'none' leaves the header out.
      .map(
        (h) =>
          Object.fromEntries(Object.entries(h).filter(([, v]) => v !== 'none')) as Record<string, string>,
      );
    const hostile: fc.Arbitrary<Hostile> = fc
      .constantFrom(...templates)
      .chain((template) =>
        fc.record({
          template: fc.constant(template),
          method: fc.oneof(
            { weight: 3, arbitrary: fc.constant(undefined) },
            {
              weight: 1,
              arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
            },
          ),
          values: fc.array(segment, { minLength: 4, maxLength: 4 }),
          mutation: fc.tuple(
            fc.oneof({ weight: 2, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(7) }),
            fc.nat(50),
          ),
          query,
          headers,
          body: bodyFor(`${template.method} ${template.path}`),
        }),
      )
      .map(({ template, method, values, mutation, query, headers, body }) => {
        let i = 0;
        const filled = template.path.replace(/\{[^}]+\}/g, () => values[i++ % values.length]!);
        return {
          method: method ?? template.method,
          path: mutate(filled, mutation[0], mutation[1]) + query,
          headers,
          ...(body === undefined ? {} : { body }),
        };
      });

    try {
      await fc.assert(
        fc.asyncProperty(hostile, async (h) => {
          const what = `${h.method} ${h.path.slice(0, 200)} ${JSON.stringify(h.headers).slice(0, 300)} body ${h.body === undefined ? '-' : `${h.body.length} bytes: ${h.body.subarray(0, 120).toString('latin1')}`}`;
          const answer = await send(base, h);
          const text = answer.body.toString('utf8');
          assert.ok(
            (answer.status === 0 && answer.truncated) || (answer.status >= 100 && answer.status < 500),
            `${answer.status} for ${what}: ${text.slice(0, 300)}`,
          );
          const type = String(answer.headers['content-type'] ?? '');
          if (/json/.test(type) && h.method !== 'HEAD' && !answer.truncated && answer.body.length > 0) {
            assert.doesNotThrow(() => JSON.parse(text), `a ${type} body that is not JSON for ${what}`);
          }
          const health = await send(base, { method: 'GET', path: '/healthz', headers: {} });
          assert.equal(health.status, 200, `the server is not healthy after ${what}`);
        }),
        { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, endOnFailure: true },
      );
    } catch (error) {
      throw new Error(`replay with SWITCHYARD_TEST_SEED=${SEED}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
});
