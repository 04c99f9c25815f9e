/**
 * Position vectors: where a follower stands in each namespace's ledger, as `ns:seq` pairs joined by `,`
 * on the wire (`checkout/payments:41,checkout/cart:7`) and as an object in a snapshot's header.
 */

/** Namespace → the sequence number of the last ledger event reflected in the data held. */
export type Positions = Readonly<Record<string, number>>;

/** The wire form of a vector; namespaces sorted, so equal vectors encode equally. */
export function encodePositions(positions: Positions): string {
  return Object.keys(positions)
    .sort()
    .map((ns) => `${ns}:${positions[ns]}`)
    .join(',');
}

/** The positions in the `namespaces` field of a snapshot header or a heartbeat; entries that are not numbers are skipped. */
export function positionsOfHeader(header: object): Record<string, number> {
  const out: Record<string, number> = {};
  const given = (header as { namespaces?: unknown }).namespaces;
  if (typeof given !== 'object' || given === null) return out;
  for (const [ns, seq] of Object.entries(given)) {
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) out[ns] = seq;
  }
  return out;
}
