/**
 * The ledger as the rest of Switchyard sees it: decoded events, chain verification, retention, and the
 * change feed — per namespace, in sequence order, without gaps, replayed from any sequence number the
 * ledger still holds.
 */
import type { LedgerEntry, StoreAdapter } from './contract.js';
import { UnavailableError } from './errors.js';
import type { Integrity } from './integrity.js';
import { type VerifyResult, verifyChain } from './ledger.js';
import { type ChangeEvent, decodeRecord, type EventBody } from './records.js';

export interface FeedListener {
  /** Each event once, in order within its namespace. */
  event(event: ChangeEvent): void;
  /**
   * The ledger no longer holds the events after `seq` that this subscriber needs (they were pruned):
   * take a fresh snapshot of the namespace; the feed continues from the ledger's oldest event.
   */
  reset?(namespace: string, seq: number): void;
  /** Reading the ledger failed; the feed retries on the next notification or poll. */
  error?(error: unknown): void;
}

export interface Subscription {
  /** Resolves once every namespace has been replayed up to its head at subscription time. */
  readonly ready: Promise<void>;
  /** The last sequence number delivered per namespace. */
  position(namespace: string): number;
  /**
   * Follows one more namespace, from `from` (default: its current head). Resolves once it has been
   * replayed up to its head; a namespace already followed is left as it is.
   */
  add(namespace: string, from?: number): Promise<void>;
  close(): void;
}

const PAGE = 500;

export function toChangeEvent(entry: LedgerEntry): ChangeEvent {
  const body = decodeRecord<EventBody>(entry.namespace, `ledger/${entry.seq}`, entry.body);
  return { namespace: entry.namespace, seq: entry.seq, prevHash: entry.prevHash, hash: entry.hash, ...body };
}

export class Ledger {
  constructor(
    private readonly adapter: StoreAdapter,
    private readonly options: { pollIntervalMs: number; clock: () => number },
    private readonly integrity?: Integrity,
  ) {}

  async events(namespace: string, fromSeq: number, limit: number): Promise<ChangeEvent[]> {
    return (await this.adapter.readLedger(namespace, fromSeq, limit)).map(toChangeEvent);
  }

  /** The ledger entries of a namespace from `fromSeq` on, read a page at a time. */
  private async *entries(namespace: string, fromSeq: number): AsyncGenerator<LedgerEntry> {
    let next = fromSeq;
    for (;;) {
      const page = await this.adapter.readLedger(namespace, next, PAGE);
      yield* page;
      if (page.length < PAGE) return;
      next = page[page.length - 1]!.seq + 1;
    }
  }

  /**
   * Verifies the namespace's chain of events. A chain that does not verify, or whose events cannot be
   * read at all (a damaged page), is reported as such (never thrown) and to `integrity`, which refuses
   * the namespace writes from then on. A store that cannot be reached still rejects (UnavailableError).
   */
  async verify(namespace: string, options: { pagesChecked?: boolean } = {}): Promise<VerifyResult> {
    const head = await this.adapter.ledgerHead(namespace);
    let result: VerifyResult;
    try {
      const unreadable =
        options.pagesChecked === true ? undefined : await this.adapter.checkPages?.(namespace);
      if (unreadable !== undefined) throw new Error(unreadable);
      result = await verifyChain(head, this.entries(namespace, (head.checkpoint?.seq ?? 0) + 1));
    } catch (error) {
      if (error instanceof UnavailableError) throw error;
      result = {
        ok: false,
        checked: 0,
        head: { seq: head.seq, hash: head.hash },
        problem: { seq: 0, reason: `its events cannot be read: ${(error as Error).message}` },
      };
    }
    if (!result.ok && result.problem !== undefined) {
      this.integrity?.found({
        kind: 'ledger',
        namespace,
        detail: `event ${result.problem.seq}: ${result.problem.reason}`,
      });
    }
    return result;
  }

  /** Removes events older than `maxAgeMs`, keeping the chain verifiable from a checkpoint. Returns how many. */
  async prune(namespace: string, maxAgeMs: number): Promise<number> {
    const cutoff = this.options.clock() - maxAgeMs;
    const checkpoint = (await this.adapter.ledgerHead(namespace)).checkpoint?.seq ?? 0;
    let last = checkpoint;
    for await (const entry of this.entries(namespace, checkpoint + 1)) {
      if (Date.parse(toChangeEvent(entry).time) >= cutoff) break;
      last = entry.seq;
    }
    if (last === checkpoint) return 0;
    await this.adapter.pruneLedger(namespace, last);
    return last - checkpoint;
  }

  /**
   * Delivers the events of `namespaces` after `from[namespace]` (default: the current head, so only new
   * events), then every new event as it commits. Notifications from the adapter trigger a read; a poll
   * every `pollIntervalMs` covers notifications that were lost.
   */
  subscribe(
    namespaces: readonly string[],
    from: Readonly<Record<string, number>>,
    listener: FeedListener,
  ): Subscription {
    const positions = new Map<string, number>();
    const running = new Map<string, Promise<void>>();
    const again = new Set<string>();
    let closed = false;

    const pump = (namespace: string): Promise<void> => {
      const current = running.get(namespace);
      if (current !== undefined) {
        again.add(namespace);
        return current;
      }
      const run = (async () => {
        do {
          again.delete(namespace);
          await this.catchUp(namespace, positions, listener, () => closed);
        } while (again.has(namespace) && !closed);
      })()
        .catch((error) => listener.error?.(error))
        .finally(() => running.delete(namespace));
      running.set(namespace, run);
      return run;
    };

    // Namespaces being followed: `starting` from the call, in `positions` once their position is known.
    const starting = new Set<string>();
    const unwatch = this.adapter.watch((namespace) => {
      if (positions.has(namespace) && !closed) void pump(namespace);
    });
    const poll = setInterval(() => {
      for (const namespace of positions.keys()) void pump(namespace);
    }, this.options.pollIntervalMs);
    poll.unref();

    const start = async (namespace: string, seq: number | undefined): Promise<void> => {
      if (starting.has(namespace) || closed) return;
      starting.add(namespace);
      // Told of its commits before its head is read, so none falls between; if that fails, polls find them.
      await this.adapter.follow(namespace).catch(() => undefined);
      positions.set(namespace, seq ?? (await this.adapter.ledgerHead(namespace)).seq);
      await pump(namespace);
    };
    const ready = Promise.all(namespaces.map((namespace) => start(namespace, from[namespace]))).then(
      () => undefined,
    );

    return {
      ready,
      position: (namespace) => positions.get(namespace) ?? 0,
      add: start,
      close() {
        closed = true;
        clearInterval(poll);
        unwatch();
      },
    };
  }

  private async catchUp(
    namespace: string,
    positions: Map<string, number>,
    listener: FeedListener,
    isClosed: () => boolean,
  ): Promise<void> {
    for (;;) {
      const position = positions.get(namespace) ?? 0;
      const page = await this.adapter.readLedger(namespace, position + 1, PAGE);
      if (isClosed() || page.length === 0) {
        if (page.length === 0 && position > 0) {
          const head = await this.adapter.ledgerHead(namespace);
          if (head.checkpoint !== null && head.checkpoint.seq > position) {
            listener.reset?.(namespace, head.checkpoint.seq);
            positions.set(namespace, head.checkpoint.seq);
            continue;
          }
        }
        return;
      }
      if (page[0]!.seq !== position + 1) {
        // Pruned past this subscriber's position: it needs a snapshot, then continues from here.
        listener.reset?.(namespace, page[0]!.seq - 1);
      }
      for (const entry of page) {
        positions.set(namespace, entry.seq);
        listener.event(toChangeEvent(entry));
      }
      if (page.length < PAGE) return;
    }
  }
}
