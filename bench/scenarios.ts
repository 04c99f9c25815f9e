/**
 * The flags and contexts every benchmark runs, described once so that Switchyard and each peer are
 * measured on the same work. Each fixture translates these into its own format.
 */

/** The three evaluation scenarios of the evaluation benchmark. */
export const EVAL_FLAGS = {
  /** On, no rules: every context gets `true`. */
  simple: 'bench/eval/simple',
  /** 50% of contexts, bucketed by their targeting key (user id), get `true`. */
  rollout: 'bench/eval/rollout',
  /** country in [US, CA, GB] and plan == "enterprise" → `true`; otherwise a 25% rollout by user id. */
  targeted: 'bench/eval/targeted',
} as const;
export type EvalFlag = keyof typeof EVAL_FLAGS;

export const TARGETED_COUNTRIES = ['US', 'CA', 'GB'] as const;
export const TARGETED_PLAN = 'enterprise';
export const ROLLOUT_PERCENT = 50;
export const TARGETED_FALLBACK_PERCENT = 25;

/** The scale benchmark's flag `i`: the `targeted` scenario's rule, keyed by index. */
export const scaleFlagKey = (i: number): string => `scale/flags/f${i}`;

export interface BenchContext {
  targetingKey: string;
  country: string;
  plan: string;
}

const COUNTRIES = ['US', 'CA', 'GB', 'DE', 'FR', 'JP', 'BR', 'IN'];
const PLANS = ['free', 'pro', 'enterprise'];

/** A small seeded PRNG (mulberry32), so every run and every peer sees the same contexts. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` contexts with user ids, countries and plans drawn from a fixed seed. */
export function makeContexts(count: number, seed = 42): BenchContext[] {
  const random = prng(seed);
  const contexts: BenchContext[] = [];
  for (let i = 0; i < count; i++) {
    contexts.push({
      targetingKey: `user-${Math.floor(random() * 1e9).toString(36)}-${i}`,
      country: COUNTRIES[Math.floor(random() * COUNTRIES.length)]!,
      plan: PLANS[Math.floor(random() * PLANS.length)]!,
    });
  }
  return contexts;
}

/** Whether the `targeted` rule (not its fallback rollout) matches a context. */
export function matchesTargetedRule(ctx: BenchContext): boolean {
  return (TARGETED_COUNTRIES as readonly string[]).includes(ctx.country) && ctx.plan === TARGETED_PLAN;
}
