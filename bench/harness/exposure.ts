/**
 * The correctness check every engine passes before it is timed: for each scenario flag, the share of
 * contexts that get `true` must be what scenarios.ts describes, so a mistranslated flag shows up.
 */
import {
  type BenchContext,
  type EvalFlag,
  matchesTargetedRule,
  ROLLOUT_PERCENT,
  TARGETED_FALLBACK_PERCENT,
} from '../scenarios.js';
import { formatPercent } from './table.js';

/** How far (in percentage points) a rollout's share may stray from its percentage. */
const TOLERANCE_POINTS = 3;

export interface Exposure {
  flag: EvalFlag;
  evaluated: number;
  /** Share of all evaluated contexts that got `true`. */
  share: number;
  /** Contexts matching the targeted rule, and how many of them got `true` (targeted only). */
  ruleMatched: number;
  ruleMatchedOn: number;
  /** Share of the contexts outside the targeted rule that got `true` (targeted only). */
  othersShare: number;
  ok: boolean;
  problems: string[];
}

export function checkExposure(
  flag: EvalFlag,
  contexts: readonly BenchContext[],
  results: readonly boolean[],
): Exposure {
  let on = 0;
  let ruleMatched = 0;
  let ruleMatchedOn = 0;
  let others = 0;
  let othersOn = 0;
  contexts.forEach((ctx, i) => {
    const result = results[i] === true;
    if (result) on++;
    if (matchesTargetedRule(ctx)) {
      ruleMatched++;
      if (result) ruleMatchedOn++;
    } else {
      others++;
      if (result) othersOn++;
    }
  });
  const share = on / Math.max(1, contexts.length);
  const othersShare = othersOn / Math.max(1, others);
  const problems: string[] = [];
  const expectShare = (actual: number, percent: number, what: string) => {
    if (Math.abs(actual * 100 - percent) > TOLERANCE_POINTS) {
      problems.push(`${what}: ${formatPercent(actual)} on, expected ${percent}% ± ${TOLERANCE_POINTS}`);
    }
  };
  if (flag === 'simple' && on !== contexts.length) {
    problems.push(`simple: ${contexts.length - on} of ${contexts.length} contexts got false`);
  }
  if (flag === 'rollout') expectShare(share, ROLLOUT_PERCENT, 'rollout');
  if (flag === 'targeted') {
    if (ruleMatchedOn !== ruleMatched) {
      problems.push(
        `targeted: ${ruleMatched - ruleMatchedOn} of ${ruleMatched} rule-matching contexts got false`,
      );
    }
    expectShare(othersShare, TARGETED_FALLBACK_PERCENT, 'targeted fallback');
  }
  return {
    flag,
    evaluated: contexts.length,
    share,
    ruleMatched,
    ruleMatchedOn,
    othersShare,
    ok: problems.length === 0,
    problems,
  };
}

/** One line: the exposure share, and for `targeted` its two parts. */
export function describeExposure(exposure: Exposure): string {
  const verdict = exposure.ok ? 'ok' : `WRONG (${exposure.problems.join('; ')})`;
  if (exposure.flag !== 'targeted') return `${formatPercent(exposure.share)} on, ${verdict}`;
  return (
    `${formatPercent(exposure.share)} on (rule ${exposure.ruleMatchedOn}/${exposure.ruleMatched}, ` +
    `others ${formatPercent(exposure.othersShare)}), ${verdict}`
  );
}
