/**
 * The one write path: turns a draft change into a commit with its ledger event, honours idempotency
 * keys, and reports a failed precondition as a `ConflictError` saying what moved.
 */
import { createHash } from 'node:crypto';
import type { Precondition, RecordWrite, StoreAdapter } from './contract.js';
import { ConflictError, IdempotencyMismatchError } from './errors.js';
import { digestOf } from './ledger.js';
import { decodeRecord, type EventBody, encodeRecord, type IdempotencyRecord, paths } from './records.js';

/** Who makes a change, why, and under which idempotency key. */
export interface ChangeContext {
  actor: string;
  reason?: string;
  /** The same key with the same request returns the first result; with another request, it is refused. */
  idempotencyKey?: string;
}

export interface Draft<T> {
  preconditions: Precondition[];
  puts: RecordWrite[];
  deletes: string[];
  event: Omit<EventBody, 'time' | 'actor' | 'reason'>;
  response: T;
  /** The sentence for a failed precondition on `path`. */
  conflict(path: string, expected: number, actual: number): string;
  /** The versions a failed precondition reports, as callers know them (default: as stored). */
  reported?: { expected: number; actual: (stored: number) => number };
}

export interface WriterOptions {
  clock: () => number;
  idempotencyTtlMs: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class Writer {
  constructor(
    private readonly adapter: StoreAdapter,
    private readonly options: WriterOptions,
  ) {}

  now(): number {
    return this.options.clock();
  }

  /**
   * Builds and commits one change in `namespace`. `request` identifies the request for idempotency;
   * `build` reads what it needs and returns the draft (it may run again after an idempotency race).
   */
  async commit<T>(
    namespace: string,
    context: ChangeContext,
    request: unknown,
    build: (now: number) => Promise<Draft<T>>,
  ): Promise<T> {
    const now = this.now();
    let idempotency: { path: string; version: number; requestHash: string } | undefined;
    if (context.idempotencyKey !== undefined) {
      const path = paths.idempotency(sha256(`${context.actor}\u0000${context.idempotencyKey}`));
      const requestHash = sha256(JSON.stringify(request));
      const existing = await this.adapter.get(namespace, path);
      if (existing !== undefined) {
        const record = decodeRecord<IdempotencyRecord>(namespace, path, existing.value);
        if (record.expiresAt > now) {
          if (record.requestHash !== requestHash) {
            throw new IdempotencyMismatchError(
              `idempotency key "${context.idempotencyKey}" was already used for a different request`,
            );
          }
          return record.response as T;
        }
      }
      idempotency = { path, version: existing?.version ?? 0, requestHash };
    }

    const draft = await build(now);
    const body: EventBody = {
      time: new Date(now).toISOString(),
      actor: context.actor,
      ...draft.event,
      ...(context.reason ? { reason: context.reason } : {}),
    };
    const bytes = encodeRecord(body);
    const preconditions = [...draft.preconditions];
    const puts = [...draft.puts];
    if (idempotency !== undefined) {
      preconditions.push({ path: idempotency.path, version: idempotency.version });
      const record: IdempotencyRecord = {
        requestHash: idempotency.requestHash,
        expiresAt: now + this.options.idempotencyTtlMs,
        response: draft.response,
      };
      puts.push({ path: idempotency.path, version: idempotency.version + 1, value: encodeRecord(record) });
    }
    const outcome = await this.adapter.commit({
      namespace,
      preconditions,
      puts,
      deletes: draft.deletes,
      event: { digest: digestOf(bytes), body: bytes },
    });
    if (outcome.ok) return draft.response;
    if (idempotency !== undefined && outcome.path === idempotency.path) {
      // A concurrent request with the same key committed first: answer as it did, or refuse.
      return this.commit(namespace, context, request, build);
    }
    const expected = draft.reported?.expected ?? outcome.expected;
    const actual = draft.reported?.actual(outcome.actual) ?? outcome.actual;
    throw new ConflictError(draft.conflict(outcome.path, expected, actual), expected, actual);
  }
}
