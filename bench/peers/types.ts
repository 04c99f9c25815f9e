/**
 * What every benchmarked engine (Switchyard and each peer) provides. A fixture runs in-process,
 * offline: no network, no metrics or event delivery.
 */
import type { BenchContext, EvalFlag } from '../scenarios.js';

/** A flag check: a native context in, a boolean out (a promise only where the peer's API is async). */
export type Check = (nativeContext: unknown) => boolean | Promise<boolean>;

export interface EvalSession {
  /** Converts a bench context to the engine's own context object; called outside the timed loop. */
  context(ctx: BenchContext): unknown;
  /** The check for one of the three scenario flags; looked up once, outside the timed loop. */
  check(flag: EvalFlag): Check;
  close(): Promise<void>;
}

export interface EvalFixture {
  name: string;
  /** Builds a client holding the three scenario flags (see scenarios.ts), ready to evaluate. */
  setup(): Promise<EvalSession>;
}

export interface ScaleSession {
  context(ctx: BenchContext): unknown;
  /**
   * Evaluates the flag `flagKey` (one of `scaleFlagKey(i)`) for a native context. Keys come built and
   * interned before the timed loop, as string literals in application code are.
   */
  evaluate(flagKey: string, nativeContext: unknown): boolean | Promise<boolean>;
  close(): Promise<void>;
}

export interface ScaleFixture {
  name: string;
  /**
   * The engine's own serialized data for `count` flags, each like the `targeted` scenario
   * (country/plan rule → true, else a 25% rollout by user id), keyed `scaleFlagKey(i)`. Not timed.
   */
  serialize(count: number): string | Buffer;
  /** Loads the serialized data into a ready client. Timed: this is the load time. */
  load(serialized: string | Buffer): Promise<ScaleSession>;
}
