/**
 * The compiler: the only way to make a `CompiledFlag` or `CompiledSegment`. It resolves the schedule
 * into one targeting per phase and each region override into a targeting of its own, so evaluation
 * picks a prepared targeting instead of merging anything. Compiled forms are compact on purpose: at a
 * million flags, every object and pointer per flag shows in memory and in cache misses.
 */
import { parseInstant } from '../conditions/instant.js';
import { scheduleOf } from '../document/lifecycle.js';
import type {
  EnvironmentState,
  FlagRecord,
  FlagType,
  Prerequisite,
  RegionOverride,
  Rule,
  SegmentRecord,
  Serve,
} from '../document/schema.js';
import { type CompiledCondition, compileCondition } from './conditions.js';
import { type EvaluationResult, type Reason, servedResult } from './result.js';
import { compileRollout, type Rollout } from './serve.js';

export class CompiledWindow {
  constructor(
    /** Inclusive start, epoch ms. */
    readonly from: number,
    /** Exclusive end, epoch ms. */
    readonly until: number,
  ) {}
}

export class CompiledRule {
  constructor(
    readonly id: string,
    readonly window: CompiledWindow | null,
    readonly conditions: readonly CompiledCondition[],
    /** What the rule serves: a fixed result, or else a rollout. */
    readonly result: EvaluationResult | null,
    readonly rollout: Rollout | null,
  ) {}
}

const NO_RULES: readonly CompiledRule[] = Object.freeze([]);

/** Everything that decides a value at one phase of the schedule, in one region. */
export class Targeting {
  constructor(
    /** When set, the answer for every context (the flag is off, or static). */
    readonly fixed: EvaluationResult | null,
    readonly prerequisites: readonly Prerequisite[] | null,
    /** The off variation's result when a prerequisite fails; null without prerequisites. */
    readonly prerequisiteFailed: EvaluationResult | null,
    readonly targets: Map<string, EvaluationResult> | null,
    readonly rules: readonly CompiledRule[],
    /** The default serve: a fixed result, or else a rollout. */
    readonly fallthrough: EvaluationResult | null,
    readonly fallthroughRollout: Rollout | null,
    readonly regions: Map<string, Targeting> | null,
  ) {}
}

export interface Phase {
  readonly at: number;
  readonly targeting: Targeting;
}

/** A compiled flag is its own base targeting (one object fewer per evaluation), plus its schedule. */
export class CompiledFlag extends Targeting {
  constructor(
    readonly key: string,
    readonly type: FlagType,
    readonly version: number,
    base: Targeting,
    /** Scheduled phases in time order: from `at` on, `targeting` applies. null without a schedule. */
    readonly phases: readonly Phase[] | null,
    /** Steps after this instant do not apply (the state is paused); +Infinity otherwise. */
    readonly phaseLimit: number,
    /** Whether the result can depend on `now` (windows or a schedule). */
    readonly timeDependent: boolean,
  ) {
    super(
      base.fixed,
      base.prerequisites,
      base.prerequisiteFailed,
      base.targets,
      base.rules,
      base.fallthrough,
      base.fallthroughRollout,
      base.regions,
    );
  }
}

export class CompiledSegment {
  constructor(
    readonly key: string,
    readonly included: ReadonlySet<string>,
    readonly excluded: ReadonlySet<string>,
    readonly rules: readonly (readonly CompiledCondition[])[],
  ) {}
}

type TargetingFields = Pick<
  EnvironmentState,
  'enabled' | 'offVariation' | 'targets' | 'rules' | 'default' | 'prerequisites'
> & { regions?: Record<string, RegionOverride> | undefined };

class FlagCompiler {
  timeDependent = false;

  constructor(
    private readonly record: FlagRecord,
    private readonly version: number,
    /** Without a schedule, a flag whose value cannot depend on the context reports STATIC. */
    private readonly canBeStatic: boolean,
  ) {}

  private result(variation: string, reason: Reason, ruleId?: string): EvaluationResult {
    return servedResult(this.record.variations[variation], variation, reason, ruleId, this.version);
  }

  private rollout(serve: Exclude<Serve, string>, ruleId?: string): Rollout {
    return compileRollout(serve, this.record.key, (v) => this.result(v, 'SPLIT', ruleId));
  }

  private rule(rule: Rule): CompiledRule {
    let window: CompiledWindow | null = null;
    if (rule.window !== undefined) {
      this.timeDependent = true;
      const { from, until } = rule.window;
      window = new CompiledWindow(
        from === undefined ? -Infinity : (parseInstant(from) ?? Infinity),
        until === undefined ? Infinity : (parseInstant(until) ?? -Infinity),
      );
    }
    const conditions = (rule.when ?? []).map(compileCondition);
    return typeof rule.serve === 'string'
      ? new CompiledRule(
          rule.id,
          window,
          conditions,
          this.result(rule.serve, 'TARGETING_MATCH', rule.id),
          null,
        )
      : new CompiledRule(rule.id, window, conditions, null, this.rollout(rule.serve, rule.id));
  }

  targeting(fields: TargetingFields, isRegion: boolean): Targeting {
    const prerequisites = fields.prerequisites?.length ? fields.prerequisites : null;
    // A prerequisite's own value may depend on time, so this flag's may too.
    if (prerequisites !== null) this.timeDependent = true;
    const targets = this.targets(fields.targets);
    const rules = fields.rules?.length ? fields.rules.map((r) => this.rule(r)) : NO_RULES;
    let regions: Map<string, Targeting> | null = null;
    if (!isRegion && fields.regions !== undefined && Object.keys(fields.regions).length > 0) {
      regions = new Map();
      for (const [region, override] of Object.entries(fields.regions)) {
        regions.set(region, this.targeting({ ...fields, ...override }, true));
      }
    }
    const isStatic = this.canBeStatic && !isRegion && !prerequisites && !targets && !rules.length && !regions;
    const serve = fields.default;
    const fallthrough =
      typeof serve === 'string'
        ? this.result(serve, isStatic && fields.enabled ? 'STATIC' : 'DEFAULT')
        : null;
    const fixed = !fields.enabled
      ? this.result(fields.offVariation, 'DISABLED')
      : isStatic
        ? fallthrough
        : null;
    return new Targeting(
      fixed,
      prerequisites,
      prerequisites && this.result(fields.offVariation, 'PREREQUISITE_FAILED'),
      targets,
      rules,
      fallthrough,
      typeof serve === 'string' ? null : this.rollout(serve),
      regions,
    );
  }

  private targets(targets: EnvironmentState['targets']): Map<string, EvaluationResult> | null {
    if (targets === undefined) return null;
    const map = new Map<string, EvaluationResult>();
    // Variation order decides which wins for a key listed twice.
    for (const variation of Object.keys(this.record.variations)) {
      const keys = targets[variation];
      if (keys === undefined || keys.length === 0) continue;
      const result = this.result(variation, 'TARGETING_MATCH');
      for (const key of keys) if (!map.has(key)) map.set(key, result);
    }
    return map.size > 0 ? map : null;
  }
}

/** Compiles one flag's record for an environment. Assumes a validated record. */
export function compileFlag(record: FlagRecord): CompiledFlag {
  const { state } = record;
  const compiler = new FlagCompiler(record, state.version ?? 0, !state.schedule?.length);
  const base = compiler.targeting(state, false);
  const { steps, limit: phaseLimit } = scheduleOf(state);
  let phases: Phase[] | null = null;
  if (steps.length > 0) {
    compiler.timeDependent = true;
    phases = [];
    let fields: TargetingFields = state;
    for (const step of steps) {
      fields = { ...fields, ...step.set };
      phases.push({ at: parseInstant(step.at) ?? Infinity, targeting: compiler.targeting(fields, false) });
    }
  }
  return new CompiledFlag(
    record.key,
    record.type,
    state.version ?? 0,
    base,
    phases,
    phaseLimit,
    compiler.timeDependent,
  );
}

export function compileSegment(record: SegmentRecord): CompiledSegment {
  const { state } = record;
  return new CompiledSegment(
    record.key,
    new Set(state.included ?? []),
    new Set(state.excluded ?? []),
    (state.rules ?? []).map((rule) => rule.when.map(compileCondition)),
  );
}
