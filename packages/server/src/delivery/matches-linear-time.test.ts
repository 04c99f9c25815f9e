/**
 * `matches` runs on a linear-time engine: patterns that backtrack exponentially (or polynomially) on a
 * backtracking engine are accepted, and their worst inputs evaluate through the real OFREP endpoint in a
 * few milliseconds. On a backtracking engine each of these inputs blocks the server for seconds or longer.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { bootstrap } from '../governance/bootstrap.js';
import { callApi, listenOnLoopback, temporaryStore } from '../testing.js';

/** Known-bad patterns, each with an input that makes a backtracking engine explode, and whether it matches. */
const CORPUS: readonly { pattern: string; input: string; matches: boolean }[] = [
  { pattern: '(a|a)*$', input: `${'a'.repeat(30)}!`, matches: true },
  { pattern: '(a|aa)*$', input: `${'a'.repeat(30)}!`, matches: true },
  { pattern: '^(a|ab)*c$', input: `${'ab'.repeat(15)}!`, matches: false },
  { pattern: '(\\w|\\d)*!$', input: '1'.repeat(30), matches: false },
  { pattern: '(a+)+$', input: `${'a'.repeat(30)}!`, matches: false },
  { pattern: '^(a+)+$', input: `${'a'.repeat(30)}!`, matches: false },
  { pattern: '([a-zA-Z]+)*$', input: `${'a'.repeat(30)}1`, matches: true },
  { pattern: '^([a-zA-Z]+)*$', input: `${'a'.repeat(30)}1`, matches: false },
  { pattern: '(.*a){12}', input: `${'a'.repeat(11)}${'b'.repeat(30)}`, matches: false },
  { pattern: '^(\\d+)*$', input: `${'1'.repeat(30)}x`, matches: false },
  { pattern: '(x+x+)+y', input: 'x'.repeat(30), matches: false },
  { pattern: '^(([a-z])+.)+[A-Z]([a-z])+$', input: `${'a'.repeat(30)}!`, matches: false },
  { pattern: '^(\\w+\\s?)*$', input: `${'word '.repeat(6)}!`, matches: false },
  // Linear is program size × input length: a large program is tested on at most 4096 code units.
  { pattern: '[ab]*a[ab]{200}!', input: `${'b'.repeat(3894)}a${'b'.repeat(200)}!`, matches: true },
  { pattern: '[ab]*a[ab]{200}!', input: `${'ab'.repeat(30_000)}!`, matches: false },
];

/** A correctness bound for a linear engine on inputs this short, with a wide margin for a loaded machine. */
const BOUND_MS = 50;

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let base: string;
let clientKey: string;

const flagKey = (i: number) => `checkout/redos/p${i}`;

before(async () => {
  temp = temporaryStore();
  const admin = (await bootstrap(temp.store)).adminToken!;
  app = await buildServer({ store: temp.store, rateLimits: false });
  base = await listenOnLoopback(app);
  for (const [i, { pattern }] of CORPUS.entries()) {
    const created = await callApi(base, 'POST', '/api/v1/flags', {
      token: admin,
      body: {
        key: flagKey(i),
        type: 'boolean',
        variations: { on: true, off: false },
        environments: {
          production: {
            enabled: true,
            offVariation: 'off',
            default: 'on',
            rules: [
              { id: 'bad', when: [{ attribute: 'input', op: 'matches', values: [pattern] }], serve: 'off' },
            ],
          },
        },
      },
    });
    assert.equal(created.status, 201, `${pattern}: ${created.text}`);
  }
  const key = await callApi(base, 'POST', '/api/v1/tokens', {
    token: admin,
    body: { name: 'browser', role: 'sdk-client', environments: ['production'] },
  });
  assert.equal(key.status, 201, key.text);
  clientKey = key.body.token;
});

after(async () => {
  await app.close();
  await temp.remove();
});

/** One OFREP evaluation of flag `i` with `input` as the attribute; the answer and how long it took. */
async function evaluate(i: number, input: string): Promise<{ value: unknown; ms: number }> {
  const started = performance.now();
  const answer = await callApi(base, 'POST', `/ofrep/v1/evaluate/flags/${encodeURIComponent(flagKey(i))}`, {
    token: clientKey,
    body: { context: { targetingKey: 'u1', input } },
  });
  const ms = performance.now() - started;
  assert.equal(answer.status, 200, answer.text);
  return { value: answer.body.value, ms };
}

describe('matches on a linear-time engine', () => {
  it(`answers the worst inputs of known-bad patterns through OFREP in under ${BOUND_MS} ms each`, async () => {
    for (const [i, { pattern, input, matches }] of CORPUS.entries()) {
      await evaluate(i, 'warm-up'); // the first request to a flag loads it; time only the evaluation
      const { value, ms } = await evaluate(i, input);
      assert.equal(value, !matches, `${pattern} on ${JSON.stringify(input)}`);
      assert.ok(ms < BOUND_MS, `${pattern} on ${JSON.stringify(input)} took ${ms.toFixed(1)} ms`);
    }
  });
});
