/**
 * The compiler: the only way to make a `CompiledFlag` or `CompiledSegment`. It resolves the schedule
 * into one targeting per phase and each region override into a targeting of its own, so evaluation
 * picks a prepared targeting instead of merging anything.
 */
import { parseInstant } from '../conditions/instant.js';
import type {
  EnvironmentState,
  FlagRecord,
  FlagType,
  Prerequisite,
  RegionOverride,
  Rule,
  SegmentRecord,
} from '../document/schema.js';
import { type CompiledCondition, compileCondition } from './conditions.js';
import { type EvaluationResult, type Reason, servedResult } from './result.js';
import { type CompiledServe, compileServe } from './serve.js';

export class CompiledRule {
  constructor(
    readonly id: string,
    /** Inclusive start and exclusive end of the window, in epoch ms (±Infinity when open). */
    readonly from: number,
    readonly until: number,
    readonly conditions: readonly CompiledCondition[],
    readonly serve: CompiledServe,
  ) {}
}

/** Everything that decides a value at one phase of the schedule, in one region. */
export class Targeting {
  constructor(
    /** When set, the answer for every context (the flag is off, or static). */
    readonly fixed: EvaluationResult | null,
    readonly offResult: EvaluationResult,
    readonly prerequisites: readonly Prerequisite[] | null,
    readonly prerequisiteFailed: EvaluationResult,
    readonly targets: Map<string, EvaluationResult> | null,
    readonly rules: readonly CompiledRule[],
    readonly fallthrough: CompiledServe,
    readonly regions: Map<string, Targeting> | null,
  ) {}
}

export class CompiledFlag {
  constructor(
    readonly key: string,
    readonly type: FlagType,
    readonly version: number,
    readonly base: Targeting,
    /** Scheduled phases in time order: from `at` on, `targeting` applies. null without a schedule. */
    readonly phases: readonly { readonly at: number; readonly targeting: Targeting }[] | null,
    /** Steps after this instant do not apply (the state is paused); +Infinity otherwise. */
    readonly phaseLimit: number,
    /** Whether the result can depend on `now` (windows or a schedule). */
    readonly timeDependent: boolean,
  ) {}
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
> & {
  regions?: Record<string, RegionOverride> | undefined;
};

class FlagCompiler {
  private timeDependent = false;

  constructor(
    private readonly record: FlagRecord,
    private readonly version: number,
    /** A flag whose value cannot depend on the context or time reports STATIC rather than DEFAULT. */
    private readonly canBeStatic: boolean,
  ) {}

  private result(variation: string, reason: Reason, ruleId?: string): EvaluationResult {
    return servedResult(this.record.variations[variation], variation, reason, ruleId, this.version);
  }

  private rule(rule: Rule): CompiledRule {
    const from = rule.window?.from === undefined ? -Infinity : (parseInstant(rule.window.from) ?? Infinity);
    const until =
      rule.window?.until === undefined ? Infinity : (parseInstant(rule.window.until) ?? -Infinity);
    if (rule.window !== undefined) this.timeDependent = true;
    const reason: Reason = typeof rule.serve === 'string' ? 'TARGETING_MATCH' : 'SPLIT';
    return new CompiledRule(
      rule.id,
      from,
      until,
      (rule.when ?? []).map(compileCondition),
      compileServe(rule.serve, this.record.key, (v) => this.result(v, reason, rule.id)),
    );
  }

  targeting(fields: TargetingFields, isRegion: boolean): Targeting {
    const offResult = this.result(fields.offVariation, 'DISABLED');
    const prerequisiteFailed = this.result(fields.offVariation, 'PREREQUISITE_FAILED');
    const prerequisites = fields.prerequisites?.length ? fields.prerequisites : null;
    const targets = this.targets(fields.targets);
    const rules = (fields.rules ?? []).map((r) => this.rule(r));
    const defaultReason: Reason = typeof fields.default !== 'string' ? 'SPLIT' : 'DEFAULT';
    const fallthrough = compileServe(fields.default, this.record.key, (v) => this.result(v, defaultReason));
    let regions: Map<string, Targeting> | null = null;
    if (!isRegion && fields.regions !== undefined && Object.keys(fields.regions).length > 0) {
      regions = new Map();
      for (const [region, override] of Object.entries(fields.regions)) {
        regions.set(region, this.targeting({ ...fields, ...override }, true));
      }
    }
    let fixed: EvaluationResult | null = null;
    if (!fields.enabled) fixed = offResult;
    else if (
      this.canBeStatic &&
      !isRegion &&
      typeof fields.default === 'string' &&
      !prerequisites &&
      !targets &&
      !rules.length &&
      !regions
    ) {
      fixed = this.result(fields.default, 'STATIC');
    }
    return new Targeting(
      fixed,
      offResult,
      prerequisites,
      prerequisiteFailed,
      targets,
      rules,
      fallthrough,
      regions,
    );
  }

  private targets(targets: EnvironmentState['targets']): Map<string, EvaluationResult> | null {
    if (targets === undefined) return null;
    const map = new Map<string, EvaluationResult>();
    // Variation order decides which wins for a key listed twice.
    for (const variation of Object.keys(this.record.variations)) {
      for (const key of targets[variation] ?? []) {
        if (!map.has(key)) map.set(key, this.result(variation, 'TARGETING_MATCH'));
      }
    }
    return map.size > 0 ? map : null;
  }

  flag(): CompiledFlag {
    const { state } = this.record;
    const base = this.targeting(state, false);
    let phases: { at: number; targeting: Targeting }[] | null = null;
    if (state.schedule !== undefined && state.schedule.length > 0) {
      this.timeDependent = true;
      phases = [];
      let fields: TargetingFields = state;
      for (const step of state.schedule) {
        fields = { ...fields, ...step.set };
        phases.push({ at: parseInstant(step.at) ?? Infinity, targeting: this.targeting(fields, false) });
      }
    }
    const phaseLimit = state.paused === true ? (parseInstant(state.pausedAt) ?? -Infinity) : Infinity;
    return new CompiledFlag(
      this.record.key,
      this.record.type,
      this.version,
      base,
      phases,
      phaseLimit,
      this.timeDependent,
    );
  }
}

/** Compiles one flag's record for an environment. Assumes a validated record. */
export function compileFlag(record: FlagRecord): CompiledFlag {
  const s = record.state;
  const canBeStatic = !s.schedule?.length;
  return new FlagCompiler(record, s.version ?? 0, canBeStatic).flag();
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
