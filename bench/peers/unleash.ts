/**
 * Unleash (unleash-client): `isEnabled` on a client started from bootstrap data.
 *
 * Offline configuration: the client is given its toggles as `bootstrap.data`; `refreshInterval: 0`
 * makes the poller return before it builds a request (so the `url`, which Unleash requires, is never
 * contacted); `disableMetrics` (with `metricsInterval: 0`) turns off metrics and client registration;
 * an in-memory storage provider replaces the default backup file in the temp directory, which would
 * otherwise be read at start and rewritten after loading. The client is used once it has emitted
 * `synchronized` (it has applied the bootstrap data).
 */
import { once } from 'node:events';
import { type ClientFeaturesResponse, type Context, InMemStorageProvider, Unleash } from 'unleash-client';
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
import { asText, jsonArrayText } from './json.js';
import type { EvalFixture, ScaleFixture, ScaleSession } from './types.js';

const NAME = 'unleash';

/** The part of Unleash's client API format (`/api/client/features`) these flags use. */
interface Strategy {
  name: 'default' | 'flexibleRollout';
  parameters: Record<string, string>;
  constraints: { contextName: string; operator: 'IN'; values: string[]; inverted: boolean }[];
}
interface Toggle {
  name: string;
  enabled: boolean;
  strategies: Strategy[];
}

/** A gradual rollout bucketed by user id, as the Unleash UI creates it. */
function rollout(toggle: string, percent: number, constraints: Strategy['constraints'] = []): Strategy {
  return {
    name: 'flexibleRollout',
    parameters: { rollout: String(percent), stickiness: 'userId', groupId: toggle },
    constraints,
  };
}

function toggle(name: string, flag: EvalFlag): Toggle {
  switch (flag) {
    case 'simple':
      return { name, enabled: true, strategies: [{ name: 'default', parameters: {}, constraints: [] }] };
    case 'rollout':
      return { name, enabled: true, strategies: [rollout(name, ROLLOUT_PERCENT)] };
    case 'targeted':
      return {
        name,
        enabled: true,
        strategies: [
          rollout(name, 100, [
            { contextName: 'country', operator: 'IN', values: [...TARGETED_COUNTRIES], inverted: false },
            { contextName: 'plan', operator: 'IN', values: [TARGETED_PLAN], inverted: false },
          ]),
          rollout(name, TARGETED_FALLBACK_PERCENT),
        ],
      };
  }
}

function serializeToggles(count: number, toggleAt: (i: number) => Toggle): string {
  return `{"version":2,"features":${jsonArrayText(count, toggleAt)}}`;
}

function context(ctx: BenchContext): Context {
  return { userId: ctx.targetingKey, properties: { country: ctx.country, plan: ctx.plan } };
}

async function start(serialized: string | Buffer): Promise<Unleash> {
  const { features } = JSON.parse(asText(serialized)) as ClientFeaturesResponse;
  const client = new Unleash({
    appName: 'switchyard-bench',
    url: 'http://127.0.0.1:9/never-contacted/',
    refreshInterval: 0,
    disableMetrics: true,
    metricsInterval: 0,
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: features },
    skipInstanceCountWarning: true,
  });
  if (!client.isSynchronized()) await once(client, 'synchronized');
  return client;
}

export const evalFixture: EvalFixture = {
  name: NAME,
  async setup() {
    const flags = Object.keys(EVAL_FLAGS) as EvalFlag[];
    const client = await start(
      serializeToggles(flags.length, (i) => toggle(EVAL_FLAGS[flags[i]!], flags[i]!)),
    );
    return {
      context,
      check(flag) {
        const name = EVAL_FLAGS[flag];
        return (native) => client.isEnabled(name, native as Context);
      },
      async close() {
        client.destroy();
      },
    };
  },
};

export const scaleFixture: ScaleFixture = {
  name: NAME,
  serialize: (count) => serializeToggles(count, (i) => toggle(scaleFlagKey(i), 'targeted')),
  async load(serialized): Promise<ScaleSession> {
    const client = await start(serialized);
    return {
      context,
      evaluate: (key, native) => client.isEnabled(key, native as Context),
      async close() {
        client.destroy();
      },
    };
  },
};
