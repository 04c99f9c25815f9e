/**
 * Bucketing, version 1: `murmur3_x86_32(utf8(salt + ":" + value), seed 0) mod 100000`.
 * A bucket is a thousandth of a percent; a rollout gives each variation a contiguous range of them.
 */
import { type HashPrefix, hashPrefix, murmur3Suffix } from './murmur3.js';

export const BUCKETS = 100_000;

/** The hash state of `salt + ":"`, computed once per rollout so that evaluation hashes only the value. */
export function bucketPrefix(salt: string): HashPrefix {
  return hashPrefix(`${salt}:`);
}

/** The bucket of `value` under a prefix from `bucketPrefix`. */
export function bucketOf(prefix: HashPrefix, value: string): number {
  return murmur3Suffix(prefix, value) % BUCKETS;
}

/** The bucket, 0–99 999, of `value` for `salt`. */
export function bucket(salt: string, value: string): number {
  return bucketOf(bucketPrefix(salt), value);
}
