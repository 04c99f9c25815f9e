/**
 * `@switchyard/sdk/openfeature`: an OpenFeature provider for `@openfeature/server-sdk`, resolving flags
 * from a `SwitchyardClient` (in memory, so every resolution is as fast as the client's own).
 *
 * - `flagMetadata` carries the flag's `version` and, when a rule served, its `ruleId`.
 * - Reasons are the engine's: OpenFeature's standard ones, plus `PREREQUISITE_FAILED` (a flag served its
 *   off variation because a prerequisite did not hold). Error codes are OpenFeature's.
 * - Events: `Ready` when the client has data (initialisation fails, leaving the provider in `ERROR`, when
 *   it had neither the server nor a cache file within its ready timeout); `ConfigurationChanged` with
 *   `flagsChanged` when flags change; `Stale` when the connection is lost, the data came from the cache
 *   file, or a relay says its upstream is lost; `Ready` again when that ends; `Error` when the client has
 *   no data and cannot reach the server.
 */
import {
  ErrorCode,
  type EvaluationContext,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Context, FlagType } from '@switchyard/core';
import {
  type ClientOptions,
  type ClientStatus,
  createClient,
  type DetailErrorCode,
  SwitchyardClient,
} from '../client/client.js';

const ERROR_CODES: Record<DetailErrorCode, ErrorCode> = {
  FLAG_NOT_FOUND: ErrorCode.FLAG_NOT_FOUND,
  TYPE_MISMATCH: ErrorCode.TYPE_MISMATCH,
  TARGETING_KEY_MISSING: ErrorCode.TARGETING_KEY_MISSING,
  PARSE_ERROR: ErrorCode.PARSE_ERROR,
  GENERAL: ErrorCode.GENERAL,
  PROVIDER_NOT_READY: ErrorCode.PROVIDER_NOT_READY,
};

export class SwitchyardProvider implements Provider {
  readonly metadata = { name: 'switchyard' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  /** The client it resolves from. */
  readonly client: SwitchyardClient;
  private readonly owned: boolean;
  private readonly unsubscribe: (() => void)[] = [];
  private initialised = false;
  private announced: ClientStatus | undefined;

  /** Resolves from `client`, or from a client it makes with `options` (and closes with the provider). */
  constructor(clientOrOptions: SwitchyardClient | ClientOptions) {
    this.owned = !(clientOrOptions instanceof SwitchyardClient);
    this.client =
      clientOrOptions instanceof SwitchyardClient ? clientOrOptions : createClient(clientOrOptions);
    this.unsubscribe.push(
      this.client.on('change', (event) => {
        if (!this.initialised) return;
        // Without a list (everything may have changed), OpenFeature's handlers re-read every flag.
        this.events.emit(
          ProviderEvents.ConfigurationChanged,
          event.all ? {} : { flagsChanged: [...event.flags] },
        );
      }),
      this.client.on('status', () => this.announce()),
    );
  }

  async initialize(): Promise<void> {
    const result = await this.client.ready();
    if (result.source === 'defaults') {
      throw new Error(
        `switchyard: no flag data (${result.error?.message ?? 'the server did not answer in time'})`,
      );
    }
    this.initialised = true;
    this.announced = 'ready';
    // The SDK marks the provider ready when this resolves; a stale start is announced right after.
    setImmediate(() => this.announce());
  }

  async onClose(): Promise<void> {
    for (const stop of this.unsubscribe) stop();
    if (this.owned) await this.client.close();
  }

  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, 'boolean', defaultValue, context);
  }

  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, 'string', defaultValue, context);
  }

  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, 'number', defaultValue, context);
  }

  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, 'json', defaultValue, context);
  }

  private resolve<T>(
    key: string,
    type: FlagType,
    defaultValue: T,
    context: EvaluationContext,
  ): ResolutionDetails<T> {
    const detail = this.client.detail(key, type, context as Context, defaultValue);
    return {
      value: detail.value,
      reason: detail.reason,
      ...(detail.variant === undefined ? {} : { variant: detail.variant }),
      ...(detail.errorCode === undefined
        ? {}
        : {
            errorCode: ERROR_CODES[detail.errorCode],
            errorMessage: detail.errorMessage ?? detail.errorCode,
          }),
      flagMetadata:
        detail.ruleId === undefined
          ? { version: detail.version }
          : { version: detail.version, ruleId: detail.ruleId },
    };
  }

  /** Emits the provider event of the client's status, once per change, after initialisation. */
  private announce(): void {
    const status = this.client.status;
    if (status === 'starting' || status === 'closed' || status === this.announced) return;
    if (!this.initialised && status !== 'ready') return;
    this.announced = status;
    this.initialised = true;
    if (status === 'ready') this.events.emit(ProviderEvents.Ready);
    else if (status === 'stale')
      this.events.emit(ProviderEvents.Stale, { message: 'flag data may be out of date' });
    else
      this.events.emit(ProviderEvents.Error, { message: 'no flag data, and the server cannot be reached' });
  }
}
