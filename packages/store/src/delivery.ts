/**
 * What delivery reads: a namespace's flags and segments as the engine takes them (`FlagRecord`,
 * `SegmentRecord`) for one environment, and which records a ledger event touched. Archived flags are not
 * delivered. Sensitive values are opened here, so they leave the store only on the way to an SDK.
 *
 * A damaged record (one that fails its checksum or cannot be decoded) is left out of what is read and
 * reported to the store's `Integrity` (so /readyz says "degraded"), the way `Queries.list` leaves it out:
 * one bad record never fails the delivery of the rest. `damaged` says whether a flag was left out so.
 */
import type { FlagRecord, SegmentRecord } from '@switchyard/core';
import type { StoreAdapter, StoredRecord } from './contract.js';
import { CorruptRecordError } from './errors.js';
import { stateOf } from './flag-records.js';
import type { Integrity } from './integrity.js';
import {
  type ChangeEvent,
  decodeRecord,
  type FlagMeta,
  lastSegment,
  paths,
  type SegmentStateRecord,
  type StateRecord,
  SYSTEM_NAMESPACE,
} from './records.js';
import { type Keyring, openMeta } from './sensitive.js';

const PAGE = 1000;

/** A record of one environment as delivered: present, or removed (absent or archived). */
export type DeliveredRecord =
  | { kind: 'flag'; key: string; record: FlagRecord | undefined }
  | { kind: 'segment'; key: string; record: SegmentRecord | undefined };

/** The flags and segments an event changed, by name; `environment` when it changed only that one. */
export interface Touched {
  flags: string[];
  segments: string[];
  environment: string | undefined;
}

export function flagRecord(meta: FlagMeta, state: StateRecord): FlagRecord | undefined {
  if (meta.archivedAt !== undefined) return undefined;
  return {
    key: meta.key,
    type: meta.type,
    variations: meta.variations,
    state: { ...state.state, version: state.version },
    ...(meta.sensitive ? { sensitive: true as const } : {}),
  };
}

/** Names of the flags and segments a ledger event changed (none for events delivery ignores). */
export function touchedBy(event: ChangeEvent): Touched {
  const environment = event.environment;
  if (event.action === 'flag.import' && Array.isArray(event.patch)) {
    const flags = (event.patch as { key?: unknown }[])
      .map((doc) => doc?.key)
      .filter((key): key is string => typeof key === 'string')
      .map(lastSegment);
    return { flags, segments: [], environment: undefined };
  }
  return {
    flags: event.flag === undefined ? [] : [lastSegment(event.flag)],
    segments: event.segment === undefined ? [] : [lastSegment(event.segment)],
    environment,
  };
}

export class Delivery {
  constructor(
    private readonly adapter: StoreAdapter,
    private readonly keys: Keyring | undefined,
    private readonly integrity?: Integrity,
  ) {}

  /**
   * What `decode` returns, or undefined when a record it decodes is damaged: the damage is reported (the
   * integrity layer has already reported a checksum failure; this adds records that do not decode).
   */
  private orDamaged<T>(decode: () => T): T | undefined {
    try {
      return decode();
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      this.integrity?.found({
        kind: 'record',
        namespace: error.namespace,
        path: error.path,
        detail: error.message,
      });
      return undefined;
    }
  }

  /** Every record path from `prefix` on, a page at a time. */
  private async *scanAll(namespace: string, prefix: string): AsyncGenerator<StoredRecord[]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.adapter.scan(
        namespace,
        prefix,
        after === undefined ? { limit: PAGE } : { after, limit: PAGE },
      );
      if (page.length > 0) yield page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.path;
    }
  }

  private meta(namespace: string, record: StoredRecord): FlagMeta {
    return openMeta(decodeRecord<FlagMeta>(namespace, record.path, record.value), this.keys);
  }

  /** Which of `names` the store has: only they hold implicit states. Read only once a state is missing. */
  private async known(names: readonly string[]): Promise<Set<string>> {
    const found = await this.adapter.getMany(
      SYSTEM_NAMESPACE,
      names.map((name) => paths.environment(name)),
    );
    return new Set(names.filter((_, i) => found[i] !== undefined));
  }

  /**
   * Every delivered flag of a namespace in one environment, a page at a time. Identities and states are
   * both kept in name order, so they are merged as they are read; a flag without a stored state has the
   * implicit one.
   */
  async *flags(namespace: string, environment: string): AsyncGenerator<FlagRecord[]> {
    let known: boolean | undefined;
    const states = this.scanAll(namespace, `state/${environment}/`);
    let pending: StoredRecord[] = [];
    let at = 0;
    let statesDone = false;
    const nextState = async (): Promise<StoredRecord | undefined> => {
      while (at >= pending.length) {
        if (statesDone) return undefined;
        const page = await states.next();
        if (page.done) {
          statesDone = true;
          return undefined;
        }
        pending = page.value;
        at = 0;
      }
      return pending[at];
    };
    const statePrefix = `state/${environment}/`.length;
    for await (const page of this.scanAll(namespace, paths.flags)) {
      const out: FlagRecord[] = [];
      for (const stored of page) {
        const name = stored.path.slice(paths.flags.length);
        let state = await nextState();
        while (state !== undefined && state.path.slice(statePrefix) < name) {
          at++;
          state = await nextState();
        }
        const own = state !== undefined && state.path.slice(statePrefix) === name ? state : undefined;
        if (own !== undefined) {
          at++;
        } else {
          known ??= (await this.known([environment])).has(environment);
          if (!known) continue;
        }
        const read = this.orDamaged(() => {
          const meta = this.meta(namespace, stored);
          return { record: flagRecord(meta, stateOf(namespace, meta, environment, own)) };
        });
        if (read?.record !== undefined) out.push(read.record);
      }
      if (out.length > 0) yield out;
    }
  }

  /** Every segment of a namespace in one environment. */
  async *segments(namespace: string, environment: string): AsyncGenerator<SegmentRecord[]> {
    for await (const page of this.scanAll(namespace, `segstate/${environment}/`)) {
      const out: SegmentRecord[] = [];
      for (const stored of page) {
        const record = this.orDamaged(() =>
          decodeRecord<SegmentStateRecord>(namespace, stored.path, stored.value),
        );
        if (record !== undefined) out.push({ key: record.key, state: record.state });
      }
      if (out.length > 0) yield out;
    }
  }

  /**
   * Whether a flag is left out of what is delivered in an environment because its stored identity or
   * its state there is damaged (false when it is intact or absent).
   */
  async damaged(namespace: string, environment: string, name: string): Promise<boolean> {
    const [meta, state] = await this.adapter.getMany(namespace, [
      paths.flag(name),
      paths.state(environment, name),
    ]);
    if (meta === undefined) return false;
    const read = this.orDamaged(() => {
      this.meta(namespace, meta);
      if (state !== undefined) decodeRecord<StateRecord>(namespace, state.path, state.value);
      return true;
    });
    return read === undefined;
  }

  /** The current records of the named flags and segments in each environment (undefined: removed). */
  async records(
    namespace: string,
    touched: { flags: readonly string[]; segments: readonly string[] },
    environments: readonly string[],
  ): Promise<Map<string, DeliveredRecord[]>> {
    const wanted: string[] = [];
    for (const name of touched.flags) {
      wanted.push(paths.flag(name));
      for (const env of environments) wanted.push(paths.state(env, name));
    }
    for (const name of touched.segments) {
      for (const env of environments) wanted.push(paths.segmentState(env, name));
    }
    const found = wanted.length === 0 ? [] : await this.adapter.getMany(namespace, wanted);
    let known: Set<string> | undefined;
    const out = new Map<string, DeliveredRecord[]>(environments.map((env) => [env, []]));
    let i = 0;
    // A damaged record is left out: its change is not delivered, and what was delivered before stays.
    for (const name of touched.flags) {
      const stored = found[i++];
      const meta = stored === undefined ? undefined : this.orDamaged(() => this.meta(namespace, stored));
      for (const env of environments) {
        const state = found[i++];
        if (stored !== undefined && meta === undefined) continue;
        let record: FlagRecord | undefined;
        if (meta !== undefined) {
          if (state === undefined) known ??= await this.known(environments);
          if (state !== undefined || known!.has(env)) {
            const read = this.orDamaged(() => ({
              record: flagRecord(meta, stateOf(namespace, meta, env, state)),
            }));
            if (read === undefined) continue;
            record = read.record;
          }
        }
        out.get(env)!.push({ kind: 'flag', key: `${namespace}/${name}`, record });
      }
    }
    for (const name of touched.segments) {
      for (const env of environments) {
        const stored = found[i++];
        const state =
          stored === undefined
            ? undefined
            : this.orDamaged(() => decodeRecord<SegmentStateRecord>(namespace, stored.path, stored.value));
        if (stored !== undefined && state === undefined) continue;
        out.get(env)!.push({
          kind: 'segment',
          key: `${namespace}/${name}`,
          record: state === undefined ? undefined : { key: state.key, state: state.state },
        });
      }
    }
    return out;
  }
}
