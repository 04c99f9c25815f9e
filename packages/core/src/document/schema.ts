/**
 * The policy document, version 1: the one source of its TypeScript types and of the JSON Schema
 * published in `spec/schema/` (scripts/build-schema.ts writes it; `npm test` fails when it drifts).
 *
 * Keywords of JSON Schema apply only to values of their own type, so a field that is "a name or an
 * object" is one schema with `type: ['string', 'object']` rather than an `anyOf`: validation errors
 * then point at the real mistake instead of listing every branch.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ATTRIBUTE, ENVIRONMENT, FLAG_KEY, type NameRule, REGION, RULE_ID, VARIATION } from './names.js';

export const SCHEMA_VERSION = 1;

/** Limits that keep one document bounded; the API adds a limit on the body's size. */
export const LIMITS = {
  variations: 100,
  rules: 500,
  conditions: 50,
  values: 10_000,
  targetsPerVariation: 10_000,
  prerequisites: 20,
  prerequisiteDepth: 10,
  regions: 100,
  scheduleSteps: 100,
  tags: 50,
  stringValue: 4096,
  regexLength: 512,
  description: 4000,
  jsonVariationBytes: 32_768,
} as const;

const name = (rule: NameRule, title: string) =>
  Type.String({ pattern: rule.pattern, maxLength: rule.maxLength, title, description: rule.describe });

const DateTime = Type.String({
  format: 'date-time',
  title: 'an RFC 3339 date-time, e.g. "2026-12-01T00:00:00Z"',
});
const Text = (maxLength: number) => Type.String({ maxLength });

export const OPERATORS = [
  'eq',
  'neq',
  'in',
  'notIn',
  'startsWith',
  'endsWith',
  'contains',
  'matches',
  'lt',
  'lte',
  'gt',
  'gte',
  'before',
  'after',
  'semverEq',
  'semverLt',
  'semverLte',
  'semverGt',
  'semverGte',
  'inSegment',
  'notInSegment',
  'exists',
] as const;
export type Operator = (typeof OPERATORS)[number];

export const FLAG_TYPES = ['boolean', 'string', 'number', 'json'] as const;
export type FlagType = (typeof FLAG_TYPES)[number];

export const Condition = Type.Object(
  {
    attribute: Type.Optional(name(ATTRIBUTE, 'attribute path')),
    op: Type.Unsafe<Operator>({ type: 'string', enum: [...OPERATORS], title: 'operator' }),
    values: Type.Optional(
      Type.Unsafe<Array<string | number | boolean>>({
        type: 'array',
        maxItems: LIMITS.values,
        items: { type: ['string', 'number', 'boolean'], maxLength: LIMITS.stringValue },
      }),
    ),
    negate: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    description:
      'Holds when the context attribute at `attribute` satisfies `op` against any of `values` (or, for ' +
      '`inSegment`/`notInSegment`, when the context is in any of the segments named by `values`); `negate` inverts it.',
  },
);
export type Condition = Static<typeof Condition>;

/** Percentages per variation, up to three decimals, summing to 100. */
export const Rollout = Type.Record(Type.String(), Type.Number({ minimum: 0, maximum: 100 }), {
  minProperties: 1,
  maxProperties: LIMITS.variations,
  propertyNames: { pattern: VARIATION.pattern, maxLength: VARIATION.maxLength, title: 'variation name' },
});
export type Rollout = Static<typeof Rollout>;

export interface RolloutServe {
  rollout: Rollout;
  /** The context attribute whose value is bucketed; `targetingKey` when absent. */
  bucketBy?: string;
  /** Mixed into the hash; the flag key when absent. */
  salt?: string;
}
/** What a rule serves: a variation's name, or a weighted rollout. */
export type Serve = string | RolloutServe;

export const Serve = Type.Unsafe<Serve>({
  type: ['string', 'object'],
  title: 'a variation name or { rollout: { <variation>: <percent>, … }, bucketBy?, salt? }',
  pattern: VARIATION.pattern,
  maxLength: VARIATION.maxLength,
  properties: {
    rollout: Rollout,
    bucketBy: name(ATTRIBUTE, 'attribute path'),
    salt: Type.String({ minLength: 1, maxLength: 256 }),
  },
  required: ['rollout'],
  additionalProperties: false,
});

export const Window = Type.Object(
  { from: Type.Optional(DateTime), until: Type.Optional(DateTime) },
  {
    additionalProperties: false,
    description: 'The rule applies from `from` (inclusive) until `until` (exclusive).',
  },
);
export type Window = Static<typeof Window>;

export const Rule = Type.Object(
  {
    id: name(RULE_ID, 'rule id'),
    description: Type.Optional(Text(LIMITS.description)),
    when: Type.Optional(Type.Array(Condition, { maxItems: LIMITS.conditions })),
    window: Type.Optional(Window),
    serve: Serve,
  },
  {
    additionalProperties: false,
    description: 'Matches when every condition holds and `now` is within `window`.',
  },
);
export type Rule = Static<typeof Rule>;

export const Targets = Type.Record(
  Type.String(),
  Type.Array(Type.String({ maxLength: LIMITS.stringValue }), { maxItems: LIMITS.targetsPerVariation }),
  {
    maxProperties: LIMITS.variations,
    propertyNames: { pattern: VARIATION.pattern, maxLength: VARIATION.maxLength, title: 'variation name' },
    description: 'Targeting keys served a given variation, before any rule.',
  },
);
export type Targets = Static<typeof Targets>;

export const Prerequisite = Type.Object(
  { flag: name(FLAG_KEY, 'flag key'), variation: name(VARIATION, 'variation name') },
  {
    additionalProperties: false,
    description: 'Met when the flag `flag`, evaluated for the same context, is on and serves `variation`.',
  },
);
export type Prerequisite = Static<typeof Prerequisite>;

const targetingFields = {
  enabled: Type.Boolean(),
  offVariation: name(VARIATION, 'variation name'),
  targets: Targets,
  rules: Type.Array(Rule, { maxItems: LIMITS.rules }),
  default: Serve,
};

/** Overrides of the targeting for contexts whose `region` attribute names this region. */
export const RegionOverride = Type.Partial(Type.Object(targetingFields, { additionalProperties: false }), {
  additionalProperties: false,
});
export type RegionOverride = Static<typeof RegionOverride>;

const Regions = Type.Record(Type.String(), RegionOverride, {
  maxProperties: LIMITS.regions,
  propertyNames: { pattern: REGION.pattern, maxLength: REGION.maxLength, title: 'region name' },
});

/** What a scheduled step sets: a shallow patch of the state's targeting fields. */
export const StatePatch = Type.Partial(Type.Object({ ...targetingFields, regions: Regions }), {
  additionalProperties: false,
  minProperties: 1,
});
export type StatePatch = Static<typeof StatePatch>;

export const ScheduledStep = Type.Object(
  { at: DateTime, set: StatePatch },
  { additionalProperties: false, description: 'At `at`, the state takes the patch `set`.' },
);
export type ScheduledStep = Static<typeof ScheduledStep>;

export const EnvironmentState = Type.Object(
  {
    version: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Assigned by the store on every change.' }),
    ),
    enabled: Type.Boolean({ description: 'The kill switch: false serves `offVariation` to everyone.' }),
    paused: Type.Optional(Type.Boolean({ description: 'Scheduled steps stop advancing while paused.' })),
    pausedAt: Type.Optional(DateTime),
    offVariation: name(VARIATION, 'variation name'),
    targets: Type.Optional(Targets),
    prerequisites: Type.Optional(Type.Array(Prerequisite, { maxItems: LIMITS.prerequisites })),
    rules: Type.Optional(Type.Array(Rule, { maxItems: LIMITS.rules })),
    default: Serve,
    regions: Type.Optional(Regions),
    schedule: Type.Optional(Type.Array(ScheduledStep, { maxItems: LIMITS.scheduleSteps })),
  },
  { additionalProperties: false, description: 'The mutable, versioned state of a flag in one environment.' },
);
export type EnvironmentState = Static<typeof EnvironmentState>;

const Environments = <T extends TSchema>(state: T) =>
  Type.Record(Type.String(), state, {
    propertyNames: {
      pattern: ENVIRONMENT.pattern,
      maxLength: ENVIRONMENT.maxLength,
      title: 'environment name',
    },
  });

const Tags = Type.Array(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$', maxLength: 64, title: 'tag' }),
  {
    maxItems: LIMITS.tags,
    uniqueItems: true,
  },
);

export const FlagDocument = Type.Object(
  {
    schemaVersion: Type.Optional(Type.Literal(SCHEMA_VERSION)),
    kind: Type.Optional(Type.Literal('flag')),
    key: name(FLAG_KEY, 'flag key'),
    type: Type.Unsafe<FlagType>({ type: 'string', enum: [...FLAG_TYPES], title: 'flag type' }),
    description: Type.Optional(Text(LIMITS.description)),
    tags: Type.Optional(Tags),
    owner: Type.Optional(Type.String({ maxLength: 128 })),
    lifecycle: Type.Optional(
      Type.Unsafe<'temporary' | 'permanent'>({ type: 'string', enum: ['temporary', 'permanent'] }),
    ),
    removeBy: Type.Optional(Type.String({ format: 'date', title: 'a date, e.g. "2027-03-31"' })),
    sensitive: Type.Optional(
      Type.Boolean({ description: 'Variation values are encrypted at rest and redacted from logs.' }),
    ),
    variations: Type.Record(Type.String(), Type.Unknown(), {
      minProperties: 1,
      maxProperties: LIMITS.variations,
      propertyNames: { pattern: VARIATION.pattern, maxLength: VARIATION.maxLength, title: 'variation name' },
      description: 'Named values, in order; each of the flag type.',
    }),
    environments: Environments(EnvironmentState),
  },
  {
    additionalProperties: false,
    $id: 'https://switchyard.dev/schema/v1/flag.json',
    title: 'Switchyard flag',
  },
);
export type FlagDocument = Static<typeof FlagDocument>;

export const SegmentRule = Type.Object(
  { id: name(RULE_ID, 'rule id'), when: Type.Array(Condition, { minItems: 1, maxItems: LIMITS.conditions }) },
  {
    additionalProperties: false,
    description: 'Contexts for which every condition holds are in the segment.',
  },
);
export type SegmentRule = Static<typeof SegmentRule>;

export const SegmentState = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 0 })),
    included: Type.Optional(
      Type.Array(Type.String({ maxLength: LIMITS.stringValue }), { maxItems: 100_000 }),
    ),
    excluded: Type.Optional(
      Type.Array(Type.String({ maxLength: LIMITS.stringValue }), { maxItems: 100_000 }),
    ),
    rules: Type.Optional(Type.Array(SegmentRule, { maxItems: LIMITS.rules })),
  },
  {
    additionalProperties: false,
    description:
      'Excluded keys are never in; included keys always are; otherwise any matching rule puts a context in.',
  },
);
export type SegmentState = Static<typeof SegmentState>;

export const SegmentDocument = Type.Object(
  {
    schemaVersion: Type.Optional(Type.Literal(SCHEMA_VERSION)),
    kind: Type.Literal('segment'),
    key: name(FLAG_KEY, 'segment key'),
    description: Type.Optional(Text(LIMITS.description)),
    tags: Type.Optional(Tags),
    environments: Environments(SegmentState),
  },
  {
    additionalProperties: false,
    $id: 'https://switchyard.dev/schema/v1/segment.json',
    title: 'Switchyard segment',
  },
);
export type SegmentDocument = Static<typeof SegmentDocument>;

/** The flag data one environment needs to evaluate a flag: its identity and that environment's state. */
export interface FlagRecord {
  key: string;
  type: FlagType;
  variations: Record<string, unknown>;
  state: EnvironmentState;
  /** The flag's variation values are sensitive: only readers allowed them may receive them. */
  sensitive?: true;
}

/** A segment's state in one environment, with its key. */
export interface SegmentRecord {
  key: string;
  state: SegmentState;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
