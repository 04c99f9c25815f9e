/**
 * `UpstreamFeed` follows one Switchyard server or relay through the delivery protocol
 * (spec/protocol.md): a snapshot, then a stream of patches, resumed from its positions after every
 * disconnect, with a fallback to polling the snapshot. It knows nothing of evaluation: it hands out
 * snapshots and patches, in order, and the positions they bring; the SDK's client and the relay both
 * build on it.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Emitter } from '../emitter.js';
import { backoffDelay } from './backoff.js';
import { readBody } from './body.js';
import {
  asUpstreamError,
  type ConnectionState,
  httpError,
  parseHeartbeat,
  parsePatch,
  readSnapshotHeader,
  type StateEvent,
  UpstreamError,
  type UpstreamFeedEvents,
} from './events.js';
import { encodePositions, type Positions } from './positions.js';

export interface UpstreamFeedOptions {
  /** Base URL of the server or relay, e.g. `https://flags.example.com`. */
  url: string;
  /** An `sdk-server` key (or any token allowed to read snapshots and streams). */
  sdkKey: string;
  /** The environment to follow; the key's environment when absent. */
  environment?: string;
  /** Namespace selectors (a namespace, or a prefix selecting every namespace under it); all when absent. */
  namespaces?: readonly string[];
  /** Follow the stream (default); `false` only polls the snapshot. */
  streaming?: boolean;
  /** Time between snapshot polls when polling. Default 30 s. */
  pollIntervalMs?: number;
  /**
   * Positions of data the caller already holds (from a cache, say). When given with streaming, the feed
   * skips the first snapshot and resumes the stream from them.
   */
  initialPositions?: Positions;
  /**
   * First reconnection delay. The server's `retry:` field may lengthen it (up to `maxRetryMs`), never
   * shorten it: an upstream cannot make the feed reconnect in a tight loop. Default 1 s.
   */
  initialRetryMs?: number;
  /** Longest reconnection delay. Default 30 s. */
  maxRetryMs?: number;
  /** Consecutive failed stream attempts after which the feed polls instead. Default 3. */
  streamFailuresBeforePolling?: number;
  /** While it polls instead of streaming, how often it tries the stream again. Default 60 s. */
  streamRetryIntervalMs?: number;
  /**
   * A stream that sends nothing (not even a heartbeat) for this long is dropped, and a snapshot response
   * whose body sends nothing for this long is cut. Default 45 s.
   */
  readTimeoutMs?: number;
  /** Longest wait for a snapshot response, body included. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Longest stream event, in characters (its data lines together, or one unfinished line). A longer one
   * drops the connection, and the next attempt takes a snapshot first (a snapshot too large for one
   * stream event then comes by `GET`, within `maxSnapshotBytes`). Default 16 Mi.
   */
  maxEventLength?: number;
  /**
   * Longest a stream may go on sending without completing an event (heartbeats are events): an event
   * that trickles forever is cut. Default 60 s.
   */
  eventTimeoutMs?: number;
  /** Longest snapshot response, in bytes; a longer one is refused. Default 1 GiB. */
  maxSnapshotBytes?: number;
}

const SNAPSHOT_TYPE = 'application/vnd.switchyard.snapshot';
/** Longest position vector sent in the stream's URL; longer ones go in a POST body. */
const MAX_SINCE_IN_URL = 4000;

interface Settings {
  url: string;
  sdkKey: string;
  environment: string | undefined;
  namespaces: readonly string[] | undefined;
  streaming: boolean;
  pollIntervalMs: number;
  maxRetryMs: number;
  streamFailuresBeforePolling: number;
  streamRetryIntervalMs: number;
  readTimeoutMs: number;
  requestTimeoutMs: number;
  maxEventLength: number;
  eventTimeoutMs: number;
  maxSnapshotBytes: number;
}

interface StreamOutcome {
  /** It answered 200 and sent at least one field. */
  healthy: boolean;
  /** The upstream answered at all (an unreachable upstream says nothing about streaming itself). */
  answered: boolean;
  error: UpstreamError | undefined;
  /** It was cut inside an event (too long, or never finished): the next attempt takes a snapshot first. */
  resync: boolean;
}

/**
 * Follows one upstream. Listeners run synchronously as each event is handled, in the order of the
 * stream. `positions` advance only after every listener of a snapshot or patch returned, so a listener
 * that throws leaves them where they were and makes the feed drop the connection and resume from them
 * (the event is delivered again, or a newer one covering it).
 *
 * Guarantees:
 * - A namespace never moves backwards: a patch whose `seq` is not ahead of the position held is dropped,
 *   and a snapshot never replaces a namespace held at a later position.
 * - Patches of a namespace are delivered in increasing `seq`.
 * - Failures never throw out of the feed; they show as `state` events, and the feed retries with
 *   exponential backoff and full jitter until `close()`.
 * - What the upstream sends is bounded and checked: a stream event longer than `maxEventLength` or
 *   never finished within `eventTimeoutMs`, a snapshot larger than `maxSnapshotBytes` or slower than
 *   the timeouts, a snapshot of another environment than the feed's (the one asked for, else the first
 *   one received), or malformed positions and patches all drop the connection, which is retried.
 */
export class UpstreamFeed {
  private readonly settings: Settings;
  private readonly events = new Emitter<UpstreamFeedEvents>();
  private held: Record<string, number>;
  /** The environment snapshots must be of: the one asked for, else the first one received. */
  private environment: string | undefined;
  private etag: string | undefined;
  private retryBaseMs: number;
  private readonly initialRetryMs: number;
  private omitSince = false;
  private current: ConnectionState = 'connecting';
  private closed = false;
  private started = false;
  private running: Promise<void> | undefined;
  private inflight: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(options: UpstreamFeedOptions) {
    this.settings = {
      url: options.url.replace(/\/+$/, ''),
      sdkKey: options.sdkKey,
      environment: options.environment,
      namespaces: options.namespaces,
      streaming: options.streaming ?? true,
      pollIntervalMs: options.pollIntervalMs ?? 30_000,
      maxRetryMs: options.maxRetryMs ?? 30_000,
      streamFailuresBeforePolling: options.streamFailuresBeforePolling ?? 3,
      streamRetryIntervalMs: options.streamRetryIntervalMs ?? 60_000,
      readTimeoutMs: options.readTimeoutMs ?? 45_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxEventLength: options.maxEventLength ?? 16 * 1024 * 1024,
      eventTimeoutMs: options.eventTimeoutMs ?? 60_000,
      maxSnapshotBytes: options.maxSnapshotBytes ?? 1024 * 1024 * 1024,
    };
    this.initialRetryMs = options.initialRetryMs ?? 1000;
    this.retryBaseMs = this.initialRetryMs;
    this.held = { ...options.initialPositions };
    this.environment = options.environment;
  }

  /** The positions of the data delivered so far (a copy). */
  get positions(): Positions {
    return { ...this.held };
  }

  get state(): ConnectionState {
    return this.current;
  }

  on<K extends keyof UpstreamFeedEvents>(
    name: K,
    listener: (event: UpstreamFeedEvents[K]) => void,
  ): () => void {
    return this.events.on(name, listener);
  }

  /** Starts following; listeners added before it see every event. Calling it again does nothing. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.running = this.run();
  }

  /** Stops: aborts the open request, emits `closed`, and resolves when the feed is idle. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.inflight?.abort(new UpstreamError('the feed was closed'));
    this.wake?.();
    await this.running;
    this.setState({ state: 'closed' });
    this.events.removeAll();
  }

  private async run(): Promise<void> {
    const s = this.settings;
    let failures = 0;
    let streamFailures = 0;
    let lastStreamTry = 0;
    let pollsOk = false;
    let needSnapshot = !s.streaming || Object.keys(this.held).length === 0;
    while (!this.closed) {
      const fallenBack = !s.streaming || streamFailures >= s.streamFailuresBeforePolling;
      const tryStream = s.streaming && (!fallenBack || Date.now() - lastStreamTry >= s.streamRetryIntervalMs);
      if (!tryStream) {
        if (!pollsOk) this.setState({ state: 'connecting' });
        try {
          await this.fetchSnapshot();
          failures = 0;
          const recovered = !pollsOk;
          pollsOk = true;
          this.setState({ state: 'polling' });
          // The upstream is back after failures: the stream may work again too, so try it first.
          if (recovered && s.streaming) lastStreamTry = 0;
          else await this.sleep(s.pollIntervalMs);
        } catch (error) {
          failures++;
          pollsOk = false;
          await this.failed(error, failures);
        }
        continue;
      }
      if (!fallenBack || !pollsOk) this.setState({ state: 'connecting' });
      if (needSnapshot) {
        try {
          await this.fetchSnapshot();
          needSnapshot = false;
        } catch (error) {
          failures++;
          await this.failed(error, failures);
          continue;
        }
      }
      lastStreamTry = Date.now();
      const outcome = await this.stream();
      if (this.closed) break;
      if (outcome.resync) needSnapshot = true;
      if (outcome.healthy) {
        failures = 1; // the first reconnection after a good stream waits up to one base delay
        streamFailures = 0;
        pollsOk = false;
      } else {
        failures++;
        // Only a stream the upstream answered counts towards polling instead: while the upstream is
        // unreachable, polling would not help, and would delay the stream when it is back.
        if (outcome.answered) streamFailures++;
      }
      if (fallenBack && pollsOk && !outcome.healthy) {
        // Polls still work: stay in `polling` and poll again now rather than waiting.
        continue;
      }
      await this.failed(outcome.error ?? new UpstreamError('the stream ended'), failures);
    }
  }

  /** Reports a failure and waits for the next attempt. */
  private async failed(error: unknown, attempt: number): Promise<void> {
    if (this.closed) return;
    const upstreamError = asUpstreamError(error, 'upstream request failed');
    const delay = Math.max(
      backoffDelay(attempt, this.retryBaseMs, this.settings.maxRetryMs),
      Math.min(upstreamError.retryAfterMs ?? 0, this.settings.maxRetryMs * 4),
    );
    this.setState({ state: 'disconnected', error: upstreamError, retryInMs: delay });
    await this.sleep(delay);
  }

  private setState(event: StateEvent): void {
    if (event.state === this.current && event.state !== 'disconnected') return;
    this.current = event.state;
    try {
      this.events.emit('state', event);
    } catch {
      // A state listener's failure is its own: the feed goes on.
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private endpoint(path: string, since?: string): string {
    const query = new URLSearchParams();
    if (this.settings.environment !== undefined) query.set('env', this.settings.environment);
    if (this.settings.namespaces !== undefined && this.settings.namespaces.length > 0) {
      query.set('namespaces', this.settings.namespaces.join(','));
    }
    if (since !== undefined && since !== '') query.set('since', since);
    const text = query.toString();
    return `${this.settings.url}${path}${text === '' ? '' : `?${text}`}`;
  }

  private async fetchSnapshot(): Promise<void> {
    if (this.closed) return;
    const controller = new AbortController();
    this.inflight = controller; // from here on, close() aborts it
    const timer = setTimeout(
      () => controller.abort(new UpstreamError(`no snapshot within ${this.settings.requestTimeoutMs} ms`)),
      this.settings.requestTimeoutMs,
    );
    try {
      const response = await fetch(this.endpoint('/sdk/v1/snapshot'), {
        headers: {
          authorization: `Bearer ${this.settings.sdkKey}`,
          accept: SNAPSHOT_TYPE,
          ...(this.etag === undefined ? {} : { 'if-none-match': this.etag }),
        },
        signal: controller.signal,
      });
      if (response.status === 304) {
        await response.body?.cancel();
        return;
      }
      if (response.status !== 200) throw await httpError(response, 'snapshot');
      const bytes = await readBody(response, {
        maxBytes: this.settings.maxSnapshotBytes,
        what: 'snapshot',
        idle: { ms: this.settings.readTimeoutMs, abort: (error) => controller.abort(error) },
      });
      this.deliverSnapshot(bytes, true, 'poll');
      this.etag = response.headers.get('etag') ?? undefined;
    } catch (error) {
      throw controller.signal.aborted && controller.signal.reason instanceof UpstreamError
        ? controller.signal.reason
        : error;
    } finally {
      clearTimeout(timer);
      if (this.inflight === controller) this.inflight = undefined;
    }
  }

  /** Opens the stream and follows it until it ends; never throws. */
  private async stream(): Promise<StreamOutcome> {
    if (this.closed) return { healthy: false, answered: false, error: undefined, resync: false };
    const controller = new AbortController();
    this.inflight = controller; // from here on, close() aborts it
    let healthy = false;
    let answered = false;
    let badData = false;
    let resync = false;
    let failure: UpstreamError | undefined;
    const stop = (error: UpstreamError) => {
      failure ??= error;
      controller.abort(error);
    };
    /** Cuts the stream inside an event: the data it was sending is lost, so a snapshot comes next. */
    const cut = (error: UpstreamError) => {
      badData = true;
      resync = true;
      stop(error);
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => stop(new UpstreamError(`the stream sent nothing for ${this.settings.readTimeoutMs} ms`)),
        this.settings.readTimeoutMs,
      );
    };
    const { maxEventLength, eventTimeoutMs } = this.settings;
    let unfinished: NodeJS.Timeout | undefined;
    const eventDone = () => {
      clearTimeout(unfinished);
      unfinished = setTimeout(
        () => cut(new UpstreamError(`the stream completed no event for ${eventTimeoutMs} ms`)),
        eventTimeoutMs,
      );
    };
    // A stream opened without positions starts with a snapshot of the whole selection.
    const since = this.omitSince ? '' : encodePositions(this.held);
    let opening = since === '';
    const parser = createParser({
      // The parser holds an unfinished line and an event's data lines; beyond this it stops holding them.
      maxBufferSize: maxEventLength,
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') {
          cut(new UpstreamError(`the stream sent an event longer than ${maxEventLength} characters`));
        }
      },
      onRetry: (ms) => {
        healthy = true;
        this.retryBaseMs = Math.min(Math.max(ms, this.initialRetryMs), this.settings.maxRetryMs);
      },
      onEvent: (message) => {
        healthy = true;
        if (failure !== undefined) return;
        eventDone();
        try {
          this.handleMessage(message, opening);
          if (message.event === 'snapshot') opening = false;
        } catch (error) {
          badData = true;
          stop(asUpstreamError(error, `could not handle a "${message.event}" event`));
        }
      },
      onComment: () => {
        healthy = true;
      },
    });
    try {
      touch();
      // Positions of many namespaces go in a POST body: a URL holds a few kilobytes at most.
      const long = since.length > MAX_SINCE_IN_URL;
      const response = await fetch(
        long ? this.endpoint('/sdk/v1/stream') : this.endpoint('/sdk/v1/stream', since),
        {
          method: long ? 'POST' : 'GET',
          headers: {
            authorization: `Bearer ${this.settings.sdkKey}`,
            accept: 'text/event-stream',
            ...(long ? { 'content-type': 'application/json' } : {}),
          },
          ...(long ? { body: JSON.stringify({ since }) } : {}),
          signal: controller.signal,
        },
      );
      answered = true;
      if (
        response.status === 414 ||
        response.status === 431 ||
        (long && (response.status === 404 || response.status === 405))
      ) {
        // Positions too long for a URL, and an upstream without the POST form: from now on the stream
        // opens with a whole snapshot instead.
        this.omitSince = true;
      }
      if (response.status !== 200) throw await httpError(response, 'stream');
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        await response.body?.cancel();
        throw new UpstreamError(
          `the stream answered ${response.headers.get('content-type')}, not text/event-stream`,
        );
      }
      if (response.body === null) throw new UpstreamError('the stream has no body');
      this.setState({ state: 'streaming' });
      eventDone();
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        touch();
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (failure !== undefined) break;
      }
    } catch (error) {
      if (failure === undefined && !this.closed) {
        failure = asUpstreamError(error, 'stream failed');
      }
    } finally {
      clearTimeout(idle);
      clearTimeout(unfinished);
      if (!controller.signal.aborted) controller.abort();
      if (this.inflight === controller) this.inflight = undefined;
    }
    return { healthy: healthy && !badData, answered, error: failure, resync };
  }

  /** Handles one stream event; `opening` when it is the first snapshot of a stream opened without positions. */
  private handleMessage(message: EventSourceMessage, opening: boolean): void {
    switch (message.event) {
      case 'snapshot':
        this.deliverSnapshot(Buffer.from(message.data, 'utf8'), opening, 'stream');
        return;
      case 'patch':
        this.deliverPatch(message.data);
        return;
      case 'heartbeat':
        this.deliverHeartbeat(message.data);
        return;
      default:
        // Event types of later protocol versions are ignored.
        return;
    }
  }

  /**
   * A `complete` snapshot covers the whole selection: a polled one, or the first of a stream opened
   * without positions. Other stream snapshots cover the namespaces of their header.
   */
  private deliverSnapshot(bytes: Buffer, opening: boolean, source: 'poll' | 'stream'): void {
    const { header, bodyStart, positions } = readSnapshotHeader(bytes, this.environment);
    // The header says what it covers, when the upstream tells; older upstreams leave it to how it came.
    const complete = typeof header.complete === 'boolean' ? header.complete : opening;
    // A reset replaces its namespaces even where the feed holds a later position: the upstream's
    // ledger was restored or reset, and its positions start again.
    const reset = header.reset === true;
    const namespaces: string[] = [];
    for (const [ns, seq] of Object.entries(positions)) {
      const held = this.held[ns];
      if (reset || held === undefined || seq >= held) namespaces.push(ns);
    }
    if (!complete && namespaces.length === 0) return;
    this.events.emit('snapshot', { bytes, header, bodyStart, positions, namespaces, complete, source });
    this.environment ??= header.environment;
    const next: Record<string, number> = complete ? {} : { ...this.held };
    if (complete) {
      for (const [ns, seq] of Object.entries(this.held)) if (ns in positions) next[ns] = seq;
    }
    for (const ns of namespaces) next[ns] = positions[ns]!;
    this.held = next;
  }

  private deliverPatch(body: string): void {
    const patch = parsePatch(body);
    const held = this.held[patch.namespace];
    if (held !== undefined && patch.seq <= held) return; // a duplicate, or out of order
    this.events.emit('patch', patch);
    this.held[patch.namespace] = patch.seq;
  }

  private deliverHeartbeat(body: string): void {
    this.events.emit('heartbeat', parseHeartbeat(body));
  }
}
