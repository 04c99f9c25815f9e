/**
 * The change ledger's chain: each event commits to the one before it, so that changing, removing or
 * reordering any event shows when the chain is verified. `hash_n = SHA-256(hash_{n-1} "\n" n "\n" digest_n)`
 * where `digest_n` is the SHA-256 of the event's body; the first event chains from `GENESIS`.
 */
import { createHash } from 'node:crypto';
import type { LedgerEntry, LedgerHead } from './contract.js';

export const GENESIS = '0'.repeat(64);

export function digestOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export function chainHash(prevHash: string, seq: number, digest: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n${digest}`).digest('hex');
}

export interface VerifyResult {
  ok: boolean;
  /** Events checked. */
  checked: number;
  head: { seq: number; hash: string };
  /** The first broken event and why, when not ok. */
  problem?: { seq: number; reason: string };
}

/**
 * Verifies entries read in order from `head.checkpoint` (or the start) to the head. `entries` may be
 * a lazy source so that a long ledger is checked page by page.
 */
export async function verifyChain(
  head: LedgerHead,
  entries: AsyncIterable<LedgerEntry>,
): Promise<VerifyResult> {
  let prevHash = head.checkpoint?.hash ?? GENESIS;
  let expectedSeq = (head.checkpoint?.seq ?? 0) + 1;
  let checked = 0;
  const fail = (seq: number, reason: string): VerifyResult => ({
    ok: false,
    checked,
    head: { seq: head.seq, hash: head.hash },
    problem: { seq, reason },
  });
  for await (const entry of entries) {
    if (entry.seq !== expectedSeq)
      return fail(expectedSeq, `event ${expectedSeq} is missing (found ${entry.seq})`);
    if (entry.prevHash !== prevHash)
      return fail(entry.seq, 'its previous hash does not match the event before it');
    if (digestOf(entry.body) !== entry.digest)
      return fail(entry.seq, 'its content does not match its digest');
    if (chainHash(prevHash, entry.seq, entry.digest) !== entry.hash)
      return fail(entry.seq, 'its hash is wrong');
    prevHash = entry.hash;
    expectedSeq++;
    checked++;
  }
  if (expectedSeq - 1 !== head.seq)
    return fail(expectedSeq, `the ledger ends at ${expectedSeq - 1}, the head says ${head.seq}`);
  if (prevHash !== head.hash) return fail(head.seq, 'the head hash does not match the last event');
  return { ok: true, checked, head: { seq: head.seq, hash: head.hash } };
}
