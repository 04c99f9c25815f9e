/**
 * Rate limits on changes, per actor (API token) and per namespace: token buckets held by this process.
 * Several servers sharing one store each enforce their own limits.
 */
import { HttpProblem } from '../problems.js';

export interface Limit {
  /** Sustained changes per second. */
  perSecond: number;
  /** Changes allowed in a burst. */
  burst: number;
}

export interface RateLimitOptions {
  actor?: Limit;
  namespace?: Limit;
}

export const DEFAULT_RATE_LIMITS: Required<RateLimitOptions> = {
  actor: { perSecond: 200, burst: 400 },
  namespace: { perSecond: 1000, burst: 2000 },
};

interface Bucket {
  tokens: number;
  at: number;
}

// Buckets idle long enough to be full again are dropped past this many, so the map stays bounded.
const MAX_BUCKETS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RateLimitOptions,
    private readonly clock: () => number,
    /** What is limited, for the 429's message. */
    private readonly noun = 'changes',
  ) {}

  /** Takes one change from the actor's and the namespace's buckets, or throws 429 with Retry-After. */
  take(actor: string, namespace: string | undefined): void {
    const now = this.clock();
    const checks: [string, Limit][] = [];
    if (this.limits.actor) checks.push([`actor:${actor}`, this.limits.actor]);
    if (this.limits.namespace && namespace !== undefined)
      checks.push([`namespace:${namespace}`, this.limits.namespace]);
    const buckets = checks.map(([key, limit]) => ({ key, limit, bucket: this.refill(key, limit, now) }));
    for (const { key, limit, bucket } of buckets) {
      if (bucket.tokens < 1) {
        const wait = Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
        const what = key.startsWith('actor:') ? 'this token' : `namespace "${namespace}"`;
        throw new HttpProblem(
          429,
          'Too Many Requests',
          `${what} may make ${limit.perSecond} ${this.noun} per second (bursts of ${limit.burst}); retry in ${wait} s`,
          {},
          { 'retry-after': String(wait) },
        );
      }
    }
    for (const { bucket } of buckets) bucket.tokens -= 1;
  }

  private refill(key: string, limit: Limit, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.evictFull(now);
      bucket = { tokens: limit.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
      bucket.at = now;
    }
    return bucket;
  }

  private evictFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const limit = key.startsWith('actor:') ? this.limits.actor : this.limits.namespace;
      if (
        limit === undefined ||
        bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond >= limit.burst
      ) {
        this.buckets.delete(key);
      }
    }
  }
}
