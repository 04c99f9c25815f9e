/**
 * Exposure events: which variant of which flag (at which version, by which rule) the application was
 * served. Evaluations are sampled, identical exposures within one window are counted as one event, and
 * the events are posted in batches to `POST /events/v1` (spec/protocol.md, "Exposure events").
 *
 * Recording is synchronous, allocation-free for an exposure already seen in the window, and never
 * throws. Sending never blocks evaluation: a failed request is retried a bounded number of times and then
 * its events are dropped (and counted in `stats`). Memory is bounded by `maxPending` distinct exposures
 * per window and `maxQueued` events waiting to be sent.
 */
import type { EvaluationResult } from '@switchyard/core';
import { backoffDelay } from '../feed/backoff.js';

/** One event of the protocol: `count` identical exposures, the first of them at `time`. */
export interface Exposure {
  kind: 'exposure';
  flag: string;
  variant: string;
  version: number;
  ruleId?: string;
  reason: string;
  time: string;
  count: number;
  /** The share of evaluations recorded, when sampled: the server counts `count / sampleRate`. */
  sampleRate?: number;
}

export interface ExposureOptions {
  /** The share of evaluations recorded, from 0 (none) to 1 (all, the default). */
  sampleRate?: number;
  /** How long identical exposures are counted as one event, and how often events are sent. Default 10 s. */
  flushIntervalMs?: number;
  /** Events per request (the protocol allows 10,000 and 1 MiB). Default 1000. */
  maxBatchSize?: number;
  /** Distinct exposures held in one window; reaching it sends the window early, past it they are dropped. Default 10,000. */
  maxPending?: number;
  /** Events waiting to be sent; past it the oldest are dropped. Default 50,000. */
  maxQueued?: number;
  /** Retries of a failed request before its events are dropped. Default 2. */
  maxRetries?: number;
  /** First retry delay (doubling, with jitter). Default 1 s. */
  retryDelayMs?: number;
  /** Longest wait for the last events when closing. Default 5 s. */
  closeTimeoutMs?: number;
}

export interface ExposureStats {
  /** Evaluations recorded (after sampling). */
  recorded: number;
  /** Events accepted by the server. */
  sent: number;
  /** Events dropped: refused, failed after retries, or over a bound. */
  dropped: number;
}

interface Pending {
  flag: string;
  result: EvaluationResult;
  first: number;
  count: number;
}

const MAX_BODY_BYTES = 1024 * 1024 - 1024;
const PROTOCOL_MAX_EVENTS = 10_000;

export class ExposureReporter {
  readonly stats: ExposureStats = { recorded: 0, sent: 0, dropped: 0 };
  private readonly sampleRate: number;
  private readonly maxBatchSize: number;
  private readonly maxPending: number;
  private readonly maxQueued: number;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly closeTimeoutMs: number;
  // perf: served results are frozen objects shared by every evaluation that takes the same path, so the
  // result itself is the key of identical exposures: no key string is built per evaluation.
  private pending = new Map<EvaluationResult, Pending>();
  // Results shared by two flags (not made by the engine today) are counted by a composed key instead.
  private pendingByKey = new Map<string, Pending>();
  private queue: Exposure[] = [];
  private sending: Promise<void> | undefined;
  private flushScheduled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly aborter = new AbortController();
  private closed = false;

  constructor(
    private readonly endpoint: string,
    private readonly sdkKey: string,
    options: ExposureOptions = {},
    private readonly onError: (error: Error) => void = () => {},
  ) {
    this.sampleRate = Math.min(1, Math.max(0, options.sampleRate ?? 1));
    this.maxBatchSize = Math.min(PROTOCOL_MAX_EVENTS, Math.max(1, options.maxBatchSize ?? 1000));
    this.maxPending = Math.max(1, options.maxPending ?? 10_000);
    this.maxQueued = Math.max(1, options.maxQueued ?? 50_000);
    this.maxRetries = Math.max(0, options.maxRetries ?? 2);
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Records that `flag` served `result`; results without a variant (errors) are not exposures. */
  record(flag: string, result: EvaluationResult): void {
    if (this.closed || result.variant === undefined) return;
    if (this.sampleRate < 1 && Math.random() >= this.sampleRate) return;
    this.stats.recorded++;
    let entry = this.pending.get(result);
    if (entry !== undefined && entry.flag !== flag) {
      const key = `${flag}\n${result.variant}\n${result.version}\n${result.ruleId ?? ''}\n${result.reason}`;
      entry = this.pendingByKey.get(key);
      if (entry === undefined) {
        if (!this.admit()) return;
        this.pendingByKey.set(key, { flag, result, first: Date.now(), count: 1 });
      } else entry.count++;
      return;
    }
    if (entry !== undefined) {
      entry.count++;
      return;
    }
    if (!this.admit()) return;
    this.pending.set(result, { flag, result, first: Date.now(), count: 1 });
  }

  /** Ends the window: its events join the queue, which is sent. Resolves when the queue is empty. */
  flush(): Promise<void> {
    this.flushScheduled = false;
    if (this.pending.size > 0 || this.pendingByKey.size > 0) {
      const window = [...this.pending.values(), ...this.pendingByKey.values()];
      this.pending = new Map();
      this.pendingByKey = new Map();
      for (const entry of window) this.queue.push(toEvent(entry, this.sampleRate));
      const over = this.queue.length - this.maxQueued;
      if (over > 0) {
        this.queue.splice(0, over);
        this.stats.dropped += over;
      }
    }
    if (this.sending === undefined && this.queue.length > 0) {
      this.sending = this.sendAll().finally(() => {
        this.sending = undefined;
      });
    }
    return this.sending ?? Promise.resolve();
  }

  /** Stops recording, sends what is left within `closeTimeoutMs`, and drops the rest. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    const deadline = setTimeout(() => this.aborter.abort(), this.closeTimeoutMs);
    try {
      await this.flush();
      this.closed = true;
      // Events queued while the last batch was in flight.
      if (this.queue.length > 0 && !this.aborter.signal.aborted) await this.flush();
    } finally {
      this.closed = true;
      clearTimeout(deadline);
      this.stats.dropped += this.queue.length;
      this.queue = [];
    }
  }

  /** Whether a new distinct exposure fits in the window; reaching the bound sends the window early. */
  private admit(): boolean {
    const size = this.pending.size + this.pendingByKey.size;
    if (size >= this.maxPending) {
      this.stats.dropped++;
      return false;
    }
    if (size + 1 >= Math.min(this.maxPending, this.maxBatchSize) && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
    return true;
  }

  private async sendAll(): Promise<void> {
    while (this.queue.length > 0 && !this.aborter.signal.aborted) {
      const { body, count } = this.nextBatch();
      this.queue.splice(0, count);
      if (await this.send(body)) this.stats.sent += count;
      else this.stats.dropped += count;
    }
  }

  /** The next request's body: up to `maxBatchSize` events and 1 MiB. */
  private nextBatch(): { body: string; count: number } {
    let body = '{"events":[';
    let count = 0;
    for (const event of this.queue) {
      if (count === this.maxBatchSize) break;
      const text = JSON.stringify(event);
      if (count > 0 && body.length + text.length + 3 > MAX_BODY_BYTES) break;
      body += (count > 0 ? ',' : '') + text;
      count++;
    }
    return { body: `${body}]}`, count };
  }

  /** Posts one batch, retrying server errors and network failures; true when it was accepted. */
  private async send(body: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      let retry: boolean;
      try {
        const response = await fetch(this.endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.sdkKey}`, 'content-type': 'application/json' },
          body,
          signal: this.aborter.signal,
        });
        await response.arrayBuffer().catch(() => {});
        if (response.ok) return true;
        retry = response.status === 408 || response.status === 429 || response.status >= 500;
        if (!retry || attempt >= this.maxRetries) {
          this.onError(new Error(`exposure events refused: ${response.status} from ${this.endpoint}`));
          return false;
        }
      } catch (error) {
        if (this.aborter.signal.aborted || attempt >= this.maxRetries) {
          this.onError(new Error(`exposure events not sent: ${(error as Error).message}`, { cause: error }));
          return false;
        }
      }
      await this.pause(
        backoffDelay(attempt + 1, this.retryDelayMs, this.retryDelayMs * 8) + this.retryDelayMs / 2,
      );
    }
  }

  private pause(ms: number): Promise<void> {
    const signal = this.aborter.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function toEvent(entry: Pending, sampleRate: number): Exposure {
  const { result } = entry;
  return {
    kind: 'exposure',
    flag: entry.flag,
    variant: result.variant!,
    version: result.version,
    ...(result.ruleId === undefined ? {} : { ruleId: result.ruleId }),
    reason: result.reason,
    time: new Date(entry.first).toISOString(),
    count: entry.count,
    // The server scales sampled counts back up (count / sampleRate).
    ...(sampleRate < 1 ? { sampleRate } : {}),
  };
}
