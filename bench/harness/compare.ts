/** Switchyard against the best peer, for one measured quantity. */

export interface Entry {
  name: string;
  value: number | undefined;
}

export interface Comparison {
  bestPeer: string | undefined;
  bestValue: number | undefined;
  /** Switchyard's value divided by the best peer's (undefined when either is missing). */
  ratio: number | undefined;
}

/**
 * Picks the best peer (the highest value, or the lowest when `lowerIsBetter`) among those with a
 * value, and relates the subject's value to it.
 */
export function compareToBestPeer(
  subject: Entry | undefined,
  peers: readonly Entry[],
  lowerIsBetter = false,
): Comparison {
  let best: Entry | undefined;
  for (const peer of peers) {
    if (peer.value === undefined || !Number.isFinite(peer.value)) continue;
    if (best === undefined || (lowerIsBetter ? peer.value < best.value! : peer.value > best.value!))
      best = peer;
  }
  const ratio =
    subject?.value !== undefined && best?.value !== undefined && best.value !== 0
      ? subject.value / best.value
      : undefined;
  return { bestPeer: best?.name, bestValue: best?.value, ratio };
}
