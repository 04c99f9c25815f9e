/**
 * The SDK's client: follows a server or relay with an `UpstreamFeed`, holds the environment's flags in
 * memory, evaluates them synchronously, persists the last known good data, and reports exposures.
 */
import {
  type Context,
  type ErrorCode,
  type EvaluationResult,
  type FlagType,
  readHeader,
} from '@switchyard/core';
import { Emitter } from '../emitter.js';
import { type ExposureOptions, ExposureReporter, type ExposureStats } from '../exposures/reporter.js';
import type { UpstreamError } from '../feed/events.js';
import { type Positions, positionsOfHeader } from '../feed/positions.js';
import { UpstreamFeed, type UpstreamFeedOptions } from '../feed/upstream.js';
import { CacheFile, DEFAULT_CACHE_MAX_BYTES } from './cache-file.js';
import { type Changed, LocalData } from './local-data.js';

export interface ClientOptions {
  /** Base URL of a Switchyard server or relay. */
  url: string;
  /** An `sdk-server` key. */
  sdkKey: string;
  /** The environment; the key's own when absent. */
  environment?: string;
  /** Namespace selectors (`checkout` selects every namespace under it); all the key may see when absent. */
  namespaces?: readonly string[];
  /**
   * Where to keep the last known good data, read at start-up when the server cannot be reached. The
   * values of sensitive flags are sealed in it under a key derived from `sdkKey` (never written): a file
   * written under another key is ignored.
   */
  cacheFile?: string;
  /** Cache files larger than this are ignored at start-up. Default 1 GiB. */
  cacheFileMaxBytes?: number;
  /** Values served before the client ever had data, by flag key (the call's default comes next). */
  defaults?: Readonly<Record<string, unknown>>;
  /** Follow the stream (default), or only poll. */
  streaming?: boolean;
  /** Time between polls when polling. Default 30 s. */
  pollIntervalMs?: number;
  /** How long `ready()` waits for the server before it settles for the cache file or code defaults. Default 5 s. */
  readyTimeoutMs?: number;
  /** Delay that gathers changes into one write of the cache file. Default 1 s. */
  cacheWriteDelayMs?: number;
  /** Exposure events; `false` turns them off. */
  events?: ExposureOptions | false;
  /** Tuning of the connection (reconnection delays, timeouts). */
  connection?: Pick<
    UpstreamFeedOptions,
    | 'initialRetryMs'
    | 'maxRetryMs'
    | 'streamFailuresBeforePolling'
    | 'streamRetryIntervalMs'
    | 'readTimeoutMs'
    | 'requestTimeoutMs'
  >;
  /** Where the client reports what it cannot act on (a cache it cannot write, events refused). Silent by default. */
  logger?: { warn(message: string): void };
}

/** Where the data came from when `ready()` resolved. */
export interface ReadyResult {
  source: 'server' | 'cache' | 'defaults';
  /** The last connection error, when the server was not reached. */
  error?: Error;
}

/**
 * `starting` until there is data; `ready` with data from a live connection; `stale` with data that may
 * be behind (the connection is lost, the data came from the cache file, or the relay says it is stale);
 * `error` when it has no data and cannot reach the server; `closed` after `close()`.
 */
export type ClientStatus = 'starting' | 'ready' | 'stale' | 'error' | 'closed';

export interface ChangeEvent {
  /** Keys of the flags whose records changed (added, changed or removed). */
  readonly flags: readonly string[];
  /** Keys of the segments whose records changed: flags that use them may evaluate differently. */
  readonly segments: readonly string[];
  /**
   * Every flag may have changed: the client's first data, or a snapshot that replaced all of it. The
   * lists are then empty rather than naming every key.
   */
  readonly all?: true;
  readonly source: 'server' | 'cache';
  /** For a change a patch brought: the epoch ms of its commit, and the time from then to now (propagation lag). */
  readonly committedAt?: number;
  readonly lagMs?: number;
}

export interface StatusEvent {
  readonly status: ClientStatus;
  readonly error?: Error;
}

export interface ClientEvents extends Record<string, unknown> {
  change: ChangeEvent;
  status: StatusEvent;
}

export type DetailErrorCode = ErrorCode | 'PROVIDER_NOT_READY';

/** An evaluation's result; `errorCode` is `PROVIDER_NOT_READY` when the client never had data. */
export interface EvaluationDetail<T> extends Omit<EvaluationResult<T>, 'errorCode'> {
  readonly errorCode: DetailErrorCode | undefined;
}

function matchesType(type: FlagType, value: unknown): boolean {
  if (type === 'json') return value !== undefined;
  return typeof value === type;
}

function typeOfDefault(value: unknown): FlagType {
  const type = typeof value;
  return type === 'boolean' || type === 'string' || type === 'number' ? type : 'json';
}

/** Starts a client; it connects at once. */
export function createClient(options: ClientOptions): SwitchyardClient {
  return new SwitchyardClient(options);
}

/**
 * Evaluation is synchronous and never throws: with data, it is the engine's result (an unknown flag
 * gives the call's default with `FLAG_NOT_FOUND`); before the client ever had data, it is the value of
 * `defaults`, else the call's default, with `PROVIDER_NOT_READY`. Once it has data, it keeps serving it
 * whatever happens to the connection, until `close()`.
 */
export class SwitchyardClient {
  private readonly data: LocalData;
  private readonly feed: UpstreamFeed;
  private readonly cache: CacheFile | undefined;
  private readonly exposures: ExposureReporter | undefined;
  private readonly events = new Emitter<ClientEvents>();
  private readonly defaults: Readonly<Record<string, unknown>>;
  private readonly selection: string[] | null;
  private readonly warn: (message: string) => void;
  private source: 'server' | 'cache' | undefined;
  private current: ClientStatus = 'starting';
  private connected = false;
  private upstreamStale = false;
  private lastError: UpstreamError | undefined;
  private settle!: (result: ReadyResult) => void;
  private settled = false;
  private readonly readyPromise: Promise<ReadyResult>;
  private readonly readyTimer: NodeJS.Timeout;
  private cacheRead: Promise<boolean> | undefined;
  private closed = false;

  constructor(private readonly options: ClientOptions) {
    this.defaults = options.defaults ?? {};
    this.selection = options.namespaces === undefined ? null : [...options.namespaces].sort();
    const logger = options.logger;
    this.warn = (message) => logger?.warn(`switchyard: ${message}`);
    this.data = new LocalData(options.environment === undefined ? {} : { environment: options.environment });
    this.cache =
      options.cacheFile === undefined
        ? undefined
        : new CacheFile(
            options.cacheFile,
            {
              sdkKey: options.sdkKey,
              delayMs: options.cacheWriteDelayMs ?? 1000,
              maxBytes: options.cacheFileMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
            },
            (error) => this.warn(`cache file ${options.cacheFile}: ${error.message}`),
          );
    const base = options.url.replace(/\/+$/, '');
    this.exposures =
      options.events === false
        ? undefined
        : new ExposureReporter(`${base}/events/v1`, options.sdkKey, options.events ?? {}, (error) =>
            this.warn(error.message),
          );
    this.readyPromise = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.feed = new UpstreamFeed({
      ...options.connection,
      url: base,
      sdkKey: options.sdkKey,
      ...(options.environment === undefined ? {} : { environment: options.environment }),
      ...(options.namespaces === undefined ? {} : { namespaces: options.namespaces }),
      streaming: options.streaming ?? true,
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    });
    this.feed.on('snapshot', (event) => {
      const changed = this.data.replace(event);
      this.received('server', changed);
    });
    this.feed.on('patch', (event) => {
      const changed = this.data.applyPatch(event);
      this.received('server', changed, event.committedAt);
    });
    this.feed.on('heartbeat', (event) => {
      this.connected = true;
      this.upstreamStale = event.stale;
      this.updateStatus();
    });
    this.feed.on('state', (event) => {
      if (event.state === 'streaming' || event.state === 'polling') {
        this.connected = true;
        this.lastError = undefined;
      } else if (event.state === 'disconnected') {
        this.connected = false;
        this.lastError = event.error;
        // The server cannot be reached: the cache file is the next best thing.
        if (!this.data.hasData) void this.loadCache();
      }
      this.updateStatus();
    });
    this.readyTimer = setTimeout(() => void this.giveUpWaiting(), options.readyTimeoutMs ?? 5000);
    this.readyTimer.unref();
    this.feed.start();
  }

  /**
   * Resolves once the client has data: from the server; or from the cache file when the server cannot
   * be reached (at its first failure, or after `readyTimeoutMs`); or, with neither, after
   * `readyTimeoutMs` with `source: 'defaults'`. Never rejects. The client goes on trying to reach the
   * server in every case.
   */
  ready(): Promise<ReadyResult> {
    return this.readyPromise;
  }

  get status(): ClientStatus {
    return this.current;
  }

  /** The positions of the data held. */
  get positions(): Positions {
    return this.data.positions;
  }

  /** Counts of exposure events recorded, sent and dropped. */
  get exposureStats(): ExposureStats {
    return { ...(this.exposures?.stats ?? { recorded: 0, sent: 0, dropped: 0 }) };
  }

  /**
   * `change` after data replaced or changed flags or segments (never for data that did not change);
   * `status` when `status` changes. Listeners run synchronously; one that throws is reported to the
   * logger and does not disturb the client.
   */
  on<K extends keyof ClientEvents>(name: K, listener: (event: ClientEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  boolean(key: string, context: Context, defaultValue: boolean): boolean {
    return this.evaluate(key, 'boolean', context, defaultValue).value;
  }

  string(key: string, context: Context, defaultValue: string): string {
    return this.evaluate(key, 'string', context, defaultValue).value;
  }

  number(key: string, context: Context, defaultValue: number): number {
    return this.evaluate(key, 'number', context, defaultValue).value;
  }

  json<T>(key: string, context: Context, defaultValue: T): T {
    return this.evaluate(key, 'json', context, defaultValue).value;
  }

  /** The full result; the flag's type is taken from the default's when not given. */
  detail<T>(key: string, context: Context, defaultValue: T): EvaluationDetail<T>;
  detail<T>(key: string, type: FlagType, context: Context, defaultValue: T): EvaluationDetail<T>;
  detail<T>(key: string, second: Context | FlagType, third: Context | T, fourth?: T): EvaluationDetail<T> {
    // perf: positional, not rest, parameters: no array per call. Which form was called is told by the
    // count of arguments, as before (a `fourth` of undefined given is a default of undefined).
    // biome-ignore lint/complexity/noArguments: the count of arguments tells the two forms apart
    if (arguments.length === 4) return this.evaluate(key, second as FlagType, third as Context, fourth as T);
    return this.evaluate(key, typeOfDefault(third as T), second as Context, third as T);
  }

  /** Stops following the server, sends the last exposures, and writes the cache file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.readyTimer);
    await this.feed.close();
    await Promise.all([this.exposures?.close(), this.cache?.flush()]);
    this.resolveReady({ source: 'defaults' });
    this.updateStatus();
    this.events.removeAll();
  }

  private evaluate<T>(key: string, type: FlagType, context: Context, defaultValue: T): EvaluationDetail<T> {
    if (!this.data.hasData) return this.codeDefault(key, type, defaultValue);
    const result = this.data.engine.evaluate(key, type, context, defaultValue);
    if (this.exposures !== undefined && result.variant !== undefined) this.exposures.record(key, result);
    return result;
  }

  private codeDefault<T>(key: string, type: FlagType, defaultValue: T): EvaluationDetail<T> {
    const given = this.defaults[key];
    return {
      value: given !== undefined && matchesType(type, given) ? (given as T) : defaultValue,
      variant: undefined,
      reason: 'ERROR',
      ruleId: undefined,
      version: 0,
      errorCode: 'PROVIDER_NOT_READY',
      errorMessage: 'the client has no flag data yet: code default',
    };
  }

  private received(source: 'server' | 'cache', changed: Changed, committedAt?: number): void {
    const first = this.source === undefined;
    this.source = source;
    const cache = this.cache;
    if (source === 'server') {
      this.connected = true;
      cache?.schedule(() => this.data.encode({ selection: this.selection, ...cache.headerFields }));
    }
    this.resolveReady({ source });
    this.updateStatus();
    if (first || changed.all || changed.flags.length > 0 || changed.segments.length > 0) {
      const lag =
        committedAt === undefined ? {} : { committedAt, lagMs: Math.max(0, Date.now() - committedAt) };
      this.events.emitSafely('change', { ...changed, source, ...lag }, (error) =>
        this.warn(`a change listener threw: ${(error as Error)?.message ?? error}`),
      );
    }
  }

  /** Loads the cache file when there is no data yet; true when it did. */
  private loadCache(): Promise<boolean> {
    this.cacheRead ??= (async () => {
      const bytes = await this.cache?.read();
      if (bytes === undefined || this.data.hasData || this.closed) return false;
      try {
        const { header, bodyStart } = readHeader(bytes);
        const selection = (header as { selection?: unknown }).selection ?? null;
        if (this.options.environment !== undefined && header.environment !== this.options.environment) {
          this.warn(
            `cache file is of environment "${header.environment}", not "${this.options.environment}": ignored`,
          );
          return false;
        }
        if (JSON.stringify(selection) !== JSON.stringify(this.selection)) {
          this.warn('cache file holds another selection of namespaces: ignored');
          return false;
        }
        const positions = positionsOfHeader(header);
        const changed = this.data.replace({
          bytes,
          header,
          bodyStart,
          positions,
          namespaces: Object.keys(positions),
          complete: true,
        });
        this.received('cache', changed);
        return true;
      } catch (error) {
        this.warn(`cache file ${this.options.cacheFile} could not be read: ${(error as Error).message}`);
        return false;
      }
    })();
    return this.cacheRead;
  }

  private async giveUpWaiting(): Promise<void> {
    if (this.data.hasData || this.closed) return;
    if (await this.loadCache()) return;
    if (!this.data.hasData) {
      this.resolveReady({
        source: 'defaults',
        ...(this.lastError === undefined ? {} : { error: this.lastError }),
      });
      this.updateStatus();
    }
  }

  private resolveReady(result: ReadyResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.readyTimer);
    this.settle(result);
  }

  private updateStatus(): void {
    let next: ClientStatus;
    if (this.closed) next = 'closed';
    else if (!this.data.hasData) next = this.lastError !== undefined ? 'error' : 'starting';
    else if (this.source === 'cache' || !this.connected || this.upstreamStale) next = 'stale';
    else next = 'ready';
    if (next === this.current) return;
    this.current = next;
    this.events.emitSafely(
      'status',
      {
        status: next,
        ...(this.lastError === undefined || next === 'ready' ? {} : { error: this.lastError }),
      },
      (error) => this.warn(`a status listener threw: ${(error as Error)?.message ?? error}`),
    );
  }
}
