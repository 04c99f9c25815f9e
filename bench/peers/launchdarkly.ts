/**
 * LaunchDarkly (@launchdarkly/node-server-sdk): `variation` (async) on an `LDClient` whose data
 * source is in-process.
 *
 * Offline configuration, common to both fixtures: the client is not `offline` (an offline client
 * starts no data source and serves only defaults) but gets a custom `updateProcessor`, which
 * replaces the streaming and polling connections; `sendEvents: false` installs the null event
 * processor (no analytics events), `diagnosticOptOut: true` disables diagnostic events; no big
 * segments store is configured. The client is used once `waitForInitialization` has resolved.
 *
 * - evaluation benchmark: the update processor is the SDK's `TestData` integration, given the three
 *   flags with `usePreconfiguredFlag` (its flag builder cannot express percentage rollouts).
 * - scale benchmark: the serialized data is the JSON the SDK polls from LaunchDarkly (`{"flags":…,
 *   "segments":…}`), and the update processor is a small in-memory data source that does what the
 *   SDK's own polling data source does with a response body: `deserializePoll` (exported by the SDK)
 *   then `init` on the data source updates. TestData was not used here because `usePreconfiguredFlag`
 *   deep-copies each flag through JSON.stringify/JSON.parse, a cost of the test helper that no
 *   production load path has (in a trial it made loading 1M flags about 2.5× slower); FileData would
 *   add a temporary file and its I/O to the timed load.
 */
import {
  basicLogger,
  deserializePoll,
  init,
  type LDClient,
  type LDContext,
  type LDOptions,
} from '@launchdarkly/node-server-sdk';
import { TestData } from '@launchdarkly/node-server-sdk/integrations';
import {
  type BenchContext,
  EVAL_FLAGS,
  type EvalFlag,
  ROLLOUT_PERCENT,
  scaleFlagKey,
  TARGETED_COUNTRIES,
  TARGETED_FALLBACK_PERCENT,
  TARGETED_PLAN,
} from '../scenarios.js';
import { asText, jsonObjectText } from './json.js';
import type { EvalFixture, ScaleFixture, ScaleSession } from './types.js';

const NAME = 'launchdarkly';
/** Never sent anywhere; the SDK requires a key. */
const SDK_KEY = 'sdk-switchyard-bench-offline';
const INIT_TIMEOUT_SECONDS = 60;
/** Indexes into `variations`. */
const TRUE_VARIATION = 0;
const FALSE_VARIATION = 1;

/** The part of LaunchDarkly's flag data model these flags use. */
interface LdFlag {
  key: string;
  version: number;
  on: boolean;
  salt: string;
  variations: [true, false];
  offVariation: number;
  fallthrough: { variation: number } | { rollout: { variations: { variation: number; weight: number }[] } };
  rules?: {
    id: string;
    clauses: { attribute: string; op: 'in'; values: string[]; negate: boolean }[];
    variation: number;
  }[];
}

type UpdateProcessorFactory = Extract<
  NonNullable<LDOptions['updateProcessor']>,
  (...args: never[]) => unknown
>;

/** A percentage rollout by context key; LaunchDarkly's weights are in thousandths of a percent. */
function rollout(percentTrue: number): LdFlag['fallthrough'] {
  return {
    rollout: {
      variations: [
        { variation: TRUE_VARIATION, weight: percentTrue * 1000 },
        { variation: FALSE_VARIATION, weight: (100 - percentTrue) * 1000 },
      ],
    },
  };
}

function ldFlag(key: string, kind: EvalFlag): LdFlag {
  const flag = {
    key,
    version: 1,
    on: true,
    salt: 'bench',
    variations: [true, false] as LdFlag['variations'],
    offVariation: FALSE_VARIATION,
  };
  switch (kind) {
    case 'simple':
      return { ...flag, fallthrough: { variation: TRUE_VARIATION } };
    case 'rollout':
      return { ...flag, fallthrough: rollout(ROLLOUT_PERCENT) };
    case 'targeted':
      return {
        ...flag,
        rules: [
          {
            id: 'targeted',
            clauses: [
              { attribute: 'country', op: 'in', values: [...TARGETED_COUNTRIES], negate: false },
              { attribute: 'plan', op: 'in', values: [TARGETED_PLAN], negate: false },
            ],
            variation: TRUE_VARIATION,
          },
        ],
        fallthrough: rollout(TARGETED_FALLBACK_PERCENT),
      };
  }
}

function context(ctx: BenchContext): LDContext {
  return { kind: 'user', key: ctx.targetingKey, country: ctx.country, plan: ctx.plan };
}

async function start(updateProcessor: LDOptions['updateProcessor']): Promise<LDClient> {
  const client = init(SDK_KEY, {
    updateProcessor,
    sendEvents: false,
    diagnosticOptOut: true,
    logger: basicLogger({ level: 'warn', destination: console.error }),
  });
  await client.waitForInitialization({ timeout: INIT_TIMEOUT_SECONDS });
  return client;
}

/** An update processor that initialises the store from a poll-response body held in memory. */
function payloadDataSource(body: string): UpdateProcessorFactory {
  return (_clientContext, dataSourceUpdates, initSuccessHandler) => ({
    start() {
      const payload = deserializePoll(body);
      if (!payload) throw new Error('LaunchDarkly: the serialized flag payload is not valid JSON');
      dataSourceUpdates.init({ features: payload.flags, segments: payload.segments }, initSuccessHandler);
    },
    stop() {},
    close() {},
  });
}

export const evalFixture: EvalFixture = {
  name: NAME,
  async setup() {
    const testData = new TestData();
    for (const kind of Object.keys(EVAL_FLAGS) as EvalFlag[]) {
      await testData.usePreconfiguredFlag(ldFlag(EVAL_FLAGS[kind], kind));
    }
    const client = await start(testData.getFactory());
    return {
      context,
      check(kind) {
        const key = EVAL_FLAGS[kind];
        return (native) => client.variation(key, native as LDContext, false);
      },
      async close() {
        client.close();
      },
    };
  },
};

export const scaleFixture: ScaleFixture = {
  name: NAME,
  serialize(count) {
    const flags = jsonObjectText(count, (i) => [scaleFlagKey(i), ldFlag(scaleFlagKey(i), 'targeted')]);
    return `{"flags":${flags},"segments":{}}`;
  },
  async load(serialized): Promise<ScaleSession> {
    const client = await start(payloadDataSource(asText(serialized)));
    return {
      context,
      evaluate: (key, native) => client.variation(key, native as LDContext, false),
      async close() {
        client.close();
      },
    };
  },
};
