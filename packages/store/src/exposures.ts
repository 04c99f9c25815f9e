/**
 * Exposure counts: how often each variant of a flag was served, per environment and hour. They are
 * analytics, not configuration, so they live in the adapter's counters (`addCounts`), never in the
 * change ledger, and cost no ledger event, idempotency record or notification.
 *
 * A count is the counter `exposure/{environment}/{name}/{yyyy-mm-ddThh}/{variant}` of the flag's
 * namespace (hours in UTC), so a flag's counts for an environment read back in order of hour, then variant.
 */
import { names, splitKey, type ValidationIssue } from '@switchyard/core';
import type { CountDelta, StoreAdapter } from './contract.js';
import { StoreValidationError } from './errors.js';

/** Exposures of one variant of a flag within one hour. */
export interface ExposureCount {
  readonly flag: string;
  readonly variant: string;
  /** The start of the hour, in ms since the epoch (UTC). */
  readonly hour: number;
  readonly count: number;
}

const HOUR_MS = 3600_000;
const PAGE = 1000;

/** The start of the hour holding `time` (ms since the epoch). */
export const hourOf = (time: number) => Math.floor(time / HOUR_MS) * HOUR_MS;

// `2026-11-24T10`: sorts as the hours do.
const hourKey = (hour: number) => new Date(hour).toISOString().slice(0, 13);
const prefixOf = (environment: string, name: string) => `exposure/${environment}/${name}/`;

/**
 * What is wrong with an exposure count, if anything: its flag key and variant must be names, its count a
 * whole number from 1 to 2^53 - 1, its hour the start of an hour from 1970 on. The one definition, used
 * by the server's ingestion to drop a bad event before it is aggregated, and by `record`.
 */
export function exposureProblem(entry: ExposureCount): ValidationIssue | undefined {
  return !names.FLAG_KEY.regex.test(entry.flag)
    ? { path: 'flag', message: `must be ${names.FLAG_KEY.describe}` }
    : !names.VARIATION.regex.test(entry.variant)
      ? { path: 'variant', message: `must be ${names.VARIATION.describe}` }
      : !Number.isSafeInteger(entry.count) || entry.count < 1
        ? { path: 'count', message: 'must be a whole number from 1 to 2^53 - 1' }
        : !Number.isSafeInteger(entry.hour) || entry.hour < 0 || entry.hour % HOUR_MS !== 0
          ? { path: 'hour', message: 'must be the start of an hour from 1970 on, in ms since the epoch' }
          : undefined;
}

/** A count `record` left out, and why. */
export interface RefusedExposure {
  readonly entry: ExposureCount;
  readonly issue: ValidationIssue;
}

export class Exposures {
  constructor(private readonly adapter: StoreAdapter) {}

  /**
   * Adds counts for `environment`. Each count is checked on its own (`exposureProblem`): a bad one is left
   * out and returned, and the others are added. The counts of each namespace are added atomically, one
   * namespace after the other; when one rejects (with `UnavailableError`: outcome unknown), those before
   * it were added. Resolves, with the counts left out, once every other count is durable.
   */
  async record(environment: string, entries: readonly ExposureCount[]): Promise<RefusedExposure[]> {
    if (!names.ENVIRONMENT.regex.test(environment)) {
      throw new StoreValidationError(`"${environment}" is not ${names.ENVIRONMENT.describe}`, [
        { path: 'environment', message: `must be ${names.ENVIRONMENT.describe}` },
      ]);
    }
    const byNamespace = new Map<string, CountDelta[]>();
    const refused: RefusedExposure[] = [];
    for (const entry of entries) {
      const issue = exposureProblem(entry);
      if (issue !== undefined) {
        refused.push({ entry, issue });
        continue;
      }
      const { namespace, name } = splitKey(entry.flag);
      const deltas = byNamespace.get(namespace) ?? [];
      byNamespace.set(namespace, deltas);
      deltas.push({
        path: `${prefixOf(environment, name)}${hourKey(entry.hour)}/${entry.variant}`,
        delta: entry.count,
      });
    }
    for (const [namespace, deltas] of byNamespace) await this.adapter.addCounts(namespace, deltas);
    return refused;
  }

  /**
   * The counts of `flag` in `environment` for the hours that start in [hourOf(from), to), in order of hour,
   * then variant. Hours and variants without exposures are absent.
   */
  async read(flag: string, environment: string, from: number, to: number): Promise<ExposureCount[]> {
    const { namespace, name } = splitKey(flag);
    const prefix = prefixOf(environment, name);
    const out: ExposureCount[] = [];
    // Every path of the first hour sorts after "{prefix}{hour}", which is no counter's path.
    let after = prefix + hourKey(hourOf(from));
    for (;;) {
      const page = await this.adapter.readCounts(namespace, prefix, { after, limit: PAGE });
      for (const { path, count } of page) {
        const rest = path.slice(prefix.length);
        const slash = rest.indexOf('/');
        const hour = Date.parse(`${rest.slice(0, slash)}:00:00.000Z`);
        if (hour >= to) return out;
        out.push({ flag, variant: rest.slice(slash + 1), hour, count });
      }
      if (page.length < PAGE) return out;
      after = page[page.length - 1]!.path;
    }
  }
}
