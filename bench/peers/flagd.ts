/**
 * flagd (@openfeature/flagd-core): `resolveBooleanEvaluation` on a `FlagdCore`, the evaluation core
 * of flagd's in-process providers.
 *
 * Offline configuration: `FlagdCore` has no I/O of its own; it is given the flag set as the JSON
 * text flagd's sync sources deliver, through `setConfigurations`. Targeting is flagd's JSONLogic:
 * `fractional` for the rollouts (bucketed by the flag key and `targetingKey`), `if` / `and` / `in` /
 * `==` for the targeted rule.
 */
import type { EvaluationContext, Logger } from '@openfeature/core';
import { FlagdCore } from '@openfeature/flagd-core';
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

const NAME = 'flagd';

/** One flag of flagd's flag definition format (https://flagd.dev/reference/flag-definitions/). */
interface FlagdFlag {
  state: 'ENABLED';
  variants: { on: true; off: false };
  defaultVariant: 'on' | 'off';
  targeting?: Record<string, unknown>;
}

/** Problems go to stderr; flagd's debug and info chatter does not. */
const logger: Logger = {
  error: (...args) => console.error('[flagd]', ...args),
  warn: (...args) => console.error('[flagd]', ...args),
  info: () => {},
  debug: () => {},
};

const fractional = (percentOn: number) => ({
  fractional: [
    ['on', percentOn],
    ['off', 100 - percentOn],
  ],
});

function flag(kind: EvalFlag): FlagdFlag {
  const variants = { on: true, off: false } as const;
  switch (kind) {
    case 'simple':
      return { state: 'ENABLED', variants, defaultVariant: 'on' };
    case 'rollout':
      return { state: 'ENABLED', variants, defaultVariant: 'off', targeting: fractional(ROLLOUT_PERCENT) };
    case 'targeted':
      return {
        state: 'ENABLED',
        variants,
        defaultVariant: 'off',
        targeting: {
          if: [
            {
              and: [
                { in: [{ var: 'country' }, [...TARGETED_COUNTRIES]] },
                { '==': [{ var: 'plan' }, TARGETED_PLAN] },
              ],
            },
            'on',
            fractional(TARGETED_FALLBACK_PERCENT),
          ],
        },
      };
  }
}

function serializeFlags(count: number, entry: (i: number) => readonly [string, FlagdFlag]): string {
  return `{"flags":${jsonObjectText(count, entry)}}`;
}

function context(ctx: BenchContext): EvaluationContext {
  return { targetingKey: ctx.targetingKey, country: ctx.country, plan: ctx.plan };
}

function start(serialized: string | Buffer): FlagdCore {
  const core = new FlagdCore(undefined, logger);
  core.setConfigurations(asText(serialized));
  return core;
}

export const evalFixture: EvalFixture = {
  name: NAME,
  async setup() {
    const kinds = Object.keys(EVAL_FLAGS) as EvalFlag[];
    const core = start(serializeFlags(kinds.length, (i) => [EVAL_FLAGS[kinds[i]!], flag(kinds[i]!)]));
    return {
      context,
      check(kind) {
        const key = EVAL_FLAGS[kind];
        return (native) =>
          core.resolveBooleanEvaluation(key, false, native as EvaluationContext, logger).value;
      },
      async close() {},
    };
  },
};

export const scaleFixture: ScaleFixture = {
  name: NAME,
  serialize(count) {
    const targeted = flag('targeted');
    return serializeFlags(count, (i) => [scaleFlagKey(i), targeted]);
  },
  async load(serialized): Promise<ScaleSession> {
    const core = start(serialized);
    return {
      context,
      evaluate: (key, native) =>
        core.resolveBooleanEvaluation(key, false, native as EvaluationContext, logger).value,
      async close() {},
    };
  },
};
