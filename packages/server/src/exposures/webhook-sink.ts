/**
 * A sink that POSTs exposure events as JSON to a URL, `{ "events": [ForwardedExposure, …] }`, in batches
 * of at most `maxBatchEvents`, sent as soon as one is full or `lingerMs` after its first event. A batch
 * that fails (network error, timeout, 408, 429 or 5xx) is sent again after an exponential backoff with
 * jitter, up to `maxAttempts` times; other 4xx answers are final. One request is in flight at a time and
 * at most `maxQueuedEvents` wait; beyond that, batches are dropped (and reported), never ingestion slowed.
 */
import type { ExposureBatch, ForwardedExposure } from './events.js';
import type { DropListener, DropReason, ExposureSink } from './sink.js';

export interface WebhookSinkOptions {
  url: string;
  /** Extra request headers, e.g. `authorization`. */
  headers?: Record<string, string>;
  maxBatchEvents?: number;
  maxQueuedEvents?: number;
  lingerMs?: number;
  maxAttempts?: number;
  /** The first retry's delay; each next one doubles, up to `maxBackoffMs`, with ±50% jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Per request. */
  timeoutMs?: number;
  /** How long `close` keeps sending what is queued. */
  closeTimeoutMs?: number;
  onDrop?: DropListener;
  /** Told of each failed attempt. */
  onError?: (error: Error, attempt: number) => void;
}

const RETRYABLE = (status: number) => status === 408 || status === 429 || status >= 500;

export function webhookSink(options: WebhookSinkOptions): ExposureSink {
  const maxBatch = options.maxBatchEvents ?? 1000;
  const maxQueued = options.maxQueuedEvents ?? 100_000;
  const linger = options.lingerMs ?? 1000;
  const maxAttempts = options.maxAttempts ?? 5;
  const backoff = options.backoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  const timeout = options.timeoutMs ?? 5000;
  new URL(options.url); // throws now, not at the first send, when the URL is malformed
  const queue: ForwardedExposure[] = [];
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;
  let closed = false;

  const drop = (reason: DropReason, events: number) => {
    if (events > 0) options.onDrop?.(reason, events);
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      stop.signal.addEventListener('abort', done, { once: true });
    });

  /** Sends one batch, retrying; resolves with why it was dropped, or undefined once delivered. */
  async function send(events: ForwardedExposure[]): Promise<DropReason | undefined> {
    const body = JSON.stringify({ events });
    for (let attempt = 1; ; attempt++) {
      let retry: boolean;
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...options.headers },
          body,
          signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeout)]),
        });
        await response.body?.cancel();
        if (response.ok) return undefined;
        retry = RETRYABLE(response.status);
        options.onError?.(new Error(`the webhook answered ${response.status}`), attempt);
        if (!retry) return 'rejected';
      } catch (error) {
        options.onError?.(error as Error, attempt);
      }
      if (stop.signal.aborted) return 'closed';
      if (attempt >= maxAttempts) return 'retries-exhausted';
      const delay = Math.min(maxBackoff, backoff * 2 ** (attempt - 1));
      await sleep(delay * (0.5 + Math.random()));
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0 && !stop.signal.aborted) {
      const events = queue.splice(0, maxBatch);
      const dropped = await send(events);
      if (dropped !== undefined) drop(dropped, events.length);
    }
  }

  function kick(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    sending ??= drain().finally(() => {
      sending = undefined;
      // Events that arrived while the last batch was being sent.
      if (queue.length > 0 && !stop.signal.aborted) schedule();
    });
  }

  function schedule(): void {
    if (sending !== undefined) return; // the running drain picks new events up
    if (queue.length >= maxBatch || closed) kick();
    else timer ??= setTimeout(kick, linger);
  }

  return {
    name: 'webhook',
    accept(batch: ExposureBatch): void {
      if (closed || queue.length + batch.events.length > maxQueued) {
        drop(closed ? 'closed' : 'queue-full', batch.events.length);
        return;
      }
      for (const event of batch.events) queue.push(event);
      schedule();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (queue.length > 0) kick();
      const deadline = setTimeout(() => stop.abort(), options.closeTimeoutMs ?? 5000);
      while (sending !== undefined) await sending;
      clearTimeout(deadline);
      stop.abort();
      drop('closed', queue.splice(0).length);
    },
  };
}
