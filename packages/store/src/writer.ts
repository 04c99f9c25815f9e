/**
 * The one write path: turns a draft change into a commit with its ledger event, honours idempotency
 * keys, and reports a failed precondition as a `ConflictError` saying what moved. The answers that
 * idempotency records keep are sealed with the store's keyring, never kept readable when they hold a
 * secret (see `IdempotencyRecord`).
 */
import { createHash } from 'node:crypto';
import type { Precondition, RecordWrite, StoreAdapter } from './contract.js';
import { ConflictError, IdempotencyMismatchError, StoreValidationError } from './errors.js';
import { digestOf } from './ledger.js';
import { decodeRecord, type EventBody, encodeRecord, type IdempotencyRecord, paths } from './records.js';
import { type Keyring, open, seal } from './sensitive.js';

/** The longest change reason the ledger keeps, in characters. */
export const MAX_REASON_CHARS = 1000;

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
  /** The response holds a secret (a new token's value): never kept readable, even without a keyring. */
  secret?: boolean;
}

export interface WriterOptions {
  clock: () => number;
  idempotencyTtlMs: number;
  /** Seals the answers idempotency records keep; without it they are kept in the clear (secrets never). */
  keys?: Keyring;
}

/** What an idempotency record remembers, once opened. */
interface Remembered {
  requestHash: string;
  response?: unknown;
  withheld?: true;
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
    if (context.reason !== undefined && context.reason.length > MAX_REASON_CHARS) {
      const message = `a change reason has at most ${MAX_REASON_CHARS} characters; this one has ${context.reason.length}`;
      throw new StoreValidationError(message, [{ path: 'reason', message }]);
    }
    const now = this.now();
    let idempotency: { path: string; version: number; requestHash: string } | undefined;
    if (context.idempotencyKey !== undefined) {
      const path = paths.idempotency(sha256(`${context.actor}\u0000${context.idempotencyKey}`));
      const requestHash = sha256(JSON.stringify(request));
      const existing = await this.adapter.get(namespace, path);
      if (existing !== undefined) {
        const record = decodeRecord<IdempotencyRecord>(namespace, path, existing.value);
        if (record.expiresAt > now) {
          const remembered = this.remembered(namespace, path, record);
          if (remembered.requestHash !== requestHash) {
            throw new IdempotencyMismatchError(
              `idempotency key "${context.idempotencyKey}" was already used for a different request`,
            );
          }
          if (remembered.withheld) {
            throw new IdempotencyMismatchError(
              `idempotency key "${context.idempotencyKey}" already made this change; its answer held a secret that this server, without an encryption key (SWITCHYARD_MASTER_KEY), does not keep, so it cannot be shown again`,
            );
          }
          return remembered.response as T;
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
      const record = this.remember(namespace, idempotency, now, draft);
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

  /** The idempotency record of a change: sealed with the keyring, else readable unless it holds a secret. */
  private remember<T>(
    namespace: string,
    idempotency: { path: string; requestHash: string },
    now: number,
    draft: Draft<T>,
  ): IdempotencyRecord {
    const expiresAt = now + this.options.idempotencyTtlMs;
    const { requestHash } = idempotency;
    const keys = this.options.keys;
    if (keys !== undefined) {
      const remembered: Remembered = { requestHash, response: draft.response };
      return { expiresAt, sealed: seal(remembered, sealedAt(namespace, idempotency.path), keys) };
    }
    return draft.secret
      ? { expiresAt, requestHash, withheld: true }
      : { expiresAt, requestHash, response: draft.response };
  }

  private remembered(namespace: string, path: string, record: IdempotencyRecord): Remembered {
    if (record.sealed !== undefined) {
      return open(
        record.sealed,
        sealedAt(namespace, path),
        this.options.keys,
        `idempotency record ${path} of namespace "${namespace}"`,
      ) as Remembered;
    }
    return {
      requestHash: record.requestHash ?? '',
      response: record.response,
      ...(record.withheld ? { withheld: true as const } : {}),
    };
  }
}

/** What a sealed idempotency record is bound to: its place, so it cannot be moved to another. */
const sealedAt = (namespace: string, path: string) => `idempotency\u0000${namespace}\u0000${path}`;
