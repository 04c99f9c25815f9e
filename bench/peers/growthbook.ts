/**
 * GrowthBook (@growthbook/growthbook): `isOn` on a `GrowthBookClient` (the multi-user client: one
 * instance holds the features, each call gets that user's context).
 *
 * Offline configuration: the client is given no `clientKey` or `apiHost`, and is initialised with
 * `init({ payload })`, the features payload the GrowthBook API would serve; without `streaming` or
 * `pollingInterval` it starts no background sync, and with no tracking callback, event logger or
 * `onFeatureUsage` it sends nothing.
 */
import {
  type FeatureApiResponse,
  type FeatureDefinition,
  GrowthBookClient,
  type UserContext,
} from '@growthbook/growthbook';
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

const NAME = 'growthbook';

/** A percentage rollout rule: `force` the value for the `coverage` share of users, hashed by `id`. */
function rolloutRule(id: string, percent: number): NonNullable<FeatureDefinition['rules']>[number] {
  return { id, force: true, coverage: percent / 100, hashAttribute: 'id' };
}

function feature(flag: EvalFlag): FeatureDefinition<boolean> {
  switch (flag) {
    case 'simple':
      return { defaultValue: true };
    case 'rollout':
      return { defaultValue: false, rules: [rolloutRule('rollout', ROLLOUT_PERCENT)] };
    case 'targeted':
      return {
        defaultValue: false,
        rules: [
          {
            id: 'targeted',
            condition: { country: { $in: [...TARGETED_COUNTRIES] }, plan: TARGETED_PLAN },
            force: true,
          },
          rolloutRule('fallback', TARGETED_FALLBACK_PERCENT),
        ],
      };
  }
}

function serializeFeatures(
  count: number,
  entry: (i: number) => readonly [string, FeatureDefinition],
): string {
  return `{"features":${jsonObjectText(count, entry)}}`;
}

function context(ctx: BenchContext): UserContext {
  return { attributes: { id: ctx.targetingKey, country: ctx.country, plan: ctx.plan } };
}

async function start(serialized: string | Buffer): Promise<GrowthBookClient> {
  const client = new GrowthBookClient();
  await client.init({ payload: JSON.parse(asText(serialized)) as FeatureApiResponse });
  if (!client.ready) throw new Error('GrowthBook client is not ready after init');
  return client;
}

export const evalFixture: EvalFixture = {
  name: NAME,
  async setup() {
    const flags = Object.keys(EVAL_FLAGS) as EvalFlag[];
    const client = await start(
      serializeFeatures(flags.length, (i) => [EVAL_FLAGS[flags[i]!], feature(flags[i]!)]),
    );
    return {
      context,
      check(flag) {
        const key = EVAL_FLAGS[flag];
        return (native) => client.isOn(key, native as UserContext);
      },
      async close() {
        client.destroy();
      },
    };
  },
};

export const scaleFixture: ScaleFixture = {
  name: NAME,
  serialize(count) {
    const targeted = feature('targeted');
    return serializeFeatures(count, (i) => [scaleFlagKey(i), targeted]);
  },
  async load(serialized): Promise<ScaleSession> {
    const client = await start(serialized);
    return {
      context,
      evaluate: (key, native) => client.isOn(key, native as UserContext),
      async close() {
        client.destroy();
      },
    };
  },
};
