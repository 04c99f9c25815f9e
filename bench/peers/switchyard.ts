/** Switchyard's own engine, benchmarked as one fixture among the peers. */
import { encodeSnapshot, FlagEngine, type FlagRecord } from '@switchyard/core';
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
import type { EvalFixture, ScaleFixture } from './types.js';

const variations = { on: true, off: false };

const rollout = (percent: number) => ({ rollout: { on: percent, off: 100 - percent } });

function targetedRecord(key: string): FlagRecord {
  return {
    key,
    type: 'boolean',
    variations,
    state: {
      version: 1,
      enabled: true,
      offVariation: 'off',
      rules: [
        {
          id: 'enterprise-in-target-countries',
          when: [
            { attribute: 'country', op: 'in', values: [...TARGETED_COUNTRIES] },
            { attribute: 'plan', op: 'eq', values: [TARGETED_PLAN] },
          ],
          serve: 'on',
        },
      ],
      default: rollout(TARGETED_FALLBACK_PERCENT),
    },
  };
}

function evalRecords(): FlagRecord[] {
  const base = { type: 'boolean' as const, variations };
  return [
    {
      ...base,
      key: EVAL_FLAGS.simple,
      state: { version: 1, enabled: true, offVariation: 'off', default: 'on' },
    },
    {
      ...base,
      key: EVAL_FLAGS.rollout,
      state: { version: 1, enabled: true, offVariation: 'off', default: rollout(ROLLOUT_PERCENT) },
    },
    targetedRecord(EVAL_FLAGS.targeted),
  ];
}

const toContext = (ctx: BenchContext): unknown => ({ ...ctx });

export const evalFixture: EvalFixture = {
  name: 'switchyard',
  async setup() {
    const engine = FlagEngine.fromSnapshot(encodeSnapshot({ environment: 'bench' }, evalRecords()));
    return {
      context: toContext,
      check(flag: EvalFlag) {
        const key = EVAL_FLAGS[flag];
        return (ctx) => engine.evaluate(key, 'boolean', ctx as Record<string, unknown>, false).value;
      },
      async close() {},
    };
  },
};

function* scaleRecords(count: number): Generator<FlagRecord> {
  for (let i = 0; i < count; i++) yield targetedRecord(scaleFlagKey(i));
}

export const scaleFixture: ScaleFixture = {
  name: 'switchyard',
  serialize: (count) => encodeSnapshot({ environment: 'bench' }, scaleRecords(count)),
  async load(serialized) {
    const bytes = typeof serialized === 'string' ? Buffer.from(serialized) : serialized;
    const engine = FlagEngine.fromSnapshot(bytes);
    return {
      context: toContext,
      evaluate: (key, ctx) => engine.evaluate(key, 'boolean', ctx as Record<string, unknown>, false).value,
      async close() {},
    };
  },
};
