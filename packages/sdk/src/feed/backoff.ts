/**
 * Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random time
 * between 0 and min(cap, base × 2^(n-1)), so that many followers of one server that lost it together do
 * not come back together.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.floor(random() * ceiling);
}
