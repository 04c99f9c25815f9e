/**
 * Flags in the store: creation with a state for every environment, reads, versioned state changes,
 * history and rollback, archive, restore and delete. Every change goes through `Writer.commit`, so state,
 * history, indexes and the ledger event are one atomic step.
 */
import {
  type EnvironmentState,
  type FlagDocument,
  formatIssues,
  splitKey,
  validateFlag,
} from '@switchyard/core';
import type { RecordWrite, StoreAdapter } from './contract.js';
import {
  ConflictError,
  InvalidOperationError,
  NotFoundError,
  StoreValidationError,
  validOrThrow,
} from './errors.js';
import { creationRecords, implicitState, indexValue, iso, stateOf, withoutVersion } from './flag-records.js';
import { checkReferences, hasReferences } from './flag-references.js';
import { indexChanges, indexRecords } from './indexes.js';
import { mergePatch } from './merge-patch.js';
import {
  decodeRecord,
  encodeRecord,
  type FlagMeta,
  paths,
  type StateRecord,
  SYSTEM_NAMESPACE,
} from './records.js';
import { type Keyring, openMeta, redact, sealMeta } from './sensitive.js';
import type { ChangeContext, Draft, Writer } from './writer.js';

/** A flag with its states in every environment. */
export interface FlagView {
  meta: FlagMeta;
  states: Record<string, StateRecord>;
}

export interface EnvironmentRecord {
  name: string;
  /** Only publishers and admins may change a protected environment. */
  protected: boolean;
  description?: string;
  createdAt: string;
}

const ENVIRONMENT_CACHE_MS = 5000;
const CONCURRENT_BATCHES = 4;
/** Attempts of a change to the latest state (no expected version) that keeps losing races. */
const LATEST_RETRIES = 20;

export class Flags {
  /** What reference checks read through. */
  private readonly reader = {
    variations: async (key: string) => {
      const found = await this.meta(key);
      return found === undefined ? undefined : Object.keys(found.meta.variations);
    },
    state: (key: string, environment: string) => this.state(key, environment),
  };
  private environmentCache: { at: number; value: EnvironmentRecord[] } | undefined;

  constructor(
    private readonly adapter: StoreAdapter,
    private readonly writer: Writer,
    private readonly historyLimit: number,
    /** Keys for sensitive variation values; none means sensitive flags are refused. */
    private readonly keys?: Keyring,
  ) {}

  // ---- reads ----

  /** A stored identity, decoded, with sensitive variation values opened. */
  private openMeta(namespace: string, path: string, bytes: Uint8Array): FlagMeta {
    return openMeta(decodeRecord<FlagMeta>(namespace, path, bytes), this.keys);
  }

  async meta(key: string): Promise<{ meta: FlagMeta; version: number } | undefined> {
    const { namespace, name } = splitKey(key);
    const record = await this.adapter.get(namespace, paths.flag(name));
    if (record === undefined) return undefined;
    return { meta: this.openMeta(namespace, record.path, record.value), version: record.version };
  }

  /** The flag's state in an environment of the store, stored or implicit; undefined when either is unknown. */
  async state(key: string, environment: string): Promise<StateRecord | undefined> {
    const { namespace, name } = splitKey(key);
    // perf: a stored state is one read; only an absent one needs the identity.
    const record = await this.adapter.get(namespace, paths.state(environment, name));
    if (record !== undefined) return decodeRecord<StateRecord>(namespace, record.path, record.value);
    const found = await this.meta(key);
    if (found === undefined) return undefined;
    if (!(await this.environments()).some((e) => e.name === environment)) return undefined;
    return implicitState(found.meta, environment);
  }

  async get(key: string): Promise<FlagView | undefined> {
    const found = await this.meta(key);
    if (found === undefined) return undefined;
    const { namespace, name } = splitKey(key);
    const states: Record<string, StateRecord> = {};
    for (const [env, record] of await this.stateRecords(namespace, name, found.meta)) states[env] = record;
    return { meta: found.meta, states };
  }

  /** The flag's state in every environment, stored or implicit: one point read per environment. */
  private async stateRecords(
    namespace: string,
    name: string,
    meta: FlagMeta,
  ): Promise<Map<string, StateRecord>> {
    const environments = await this.environments();
    const records = await this.adapter.getMany(
      namespace,
      environments.map((e) => paths.state(e.name, name)),
    );
    return new Map(environments.map(({ name: env }, i) => [env, stateOf(namespace, meta, env, records[i])]));
  }

  /** The store's environments; cached for a few seconds (environments change rarely), cleared on change. */
  async environments(): Promise<EnvironmentRecord[]> {
    const now = Date.now();
    if (this.environmentCache !== undefined && now - this.environmentCache.at < ENVIRONMENT_CACHE_MS) {
      return this.environmentCache.value;
    }
    const records = await this.adapter.scan(SYSTEM_NAMESPACE, paths.environments, { limit: 1000 });
    const value = records.map((r) => decodeRecord<EnvironmentRecord>(SYSTEM_NAMESPACE, r.path, r.value));
    this.environmentCache = { at: now, value };
    return value;
  }

  /**
   * Writes an environment. `mode` 'create' refuses one that exists (`ConflictError`), 'update' one that does
   * not (`NotFoundError`); 'put' (the default, for bootstrapping) creates or replaces.
   */
  async putEnvironment(
    environment: Omit<EnvironmentRecord, 'createdAt'>,
    context: ChangeContext,
    mode: 'create' | 'update' | 'put' = 'put',
  ): Promise<EnvironmentRecord> {
    const path = paths.environment(environment.name);
    this.environmentCache = undefined;
    const saved = await this.writer.commit(SYSTEM_NAMESPACE, context, environment, async (now) => {
      const existing = await this.adapter.get(SYSTEM_NAMESPACE, path);
      if (existing === undefined && mode === 'update') {
        throw new NotFoundError(`environment "${environment.name}" does not exist`);
      }
      if (existing !== undefined && mode === 'create') {
        throw new ConflictError(
          `environment "${environment.name}" already exists; change it with PATCH /api/v1/environments/${environment.name}`,
        );
      }
      const previous = existing && decodeRecord<EnvironmentRecord>(SYSTEM_NAMESPACE, path, existing.value);
      const record: EnvironmentRecord = { ...environment, createdAt: previous?.createdAt ?? iso(now) };
      const version = (existing?.version ?? 0) + 1;
      return {
        preconditions: [{ path, version: existing?.version ?? 0 }],
        puts: [{ path, version, value: encodeRecord(record) }],
        deletes: [],
        event: {
          action: previous ? 'environment.update' : 'environment.create',
          environment: environment.name,
          toVersion: version,
          patch: mergePatch(previous ?? {}, record),
        },
        response: record,
        conflict: () =>
          mode === 'create'
            ? `environment "${environment.name}" already exists`
            : `environment "${environment.name}" changed meanwhile; try again`,
      };
    });
    this.environmentCache = undefined;
    return saved;
  }

  // ---- writes ----

  /** Creates a flag with a state in every environment the store knows. */
  async create(document: unknown, context: ChangeContext): Promise<FlagView> {
    const doc = validOrThrow(validateFlag(document));
    const known = (await this.environments()).map((e) => e.name);
    const unknown = Object.keys(doc.environments).filter((env) => !known.includes(env));
    if (unknown.length > 0) {
      throw new InvalidOperationError(
        `unknown environment${unknown.length > 1 ? 's' : ''} ${unknown.map((e) => `"${e}"`).join(', ')}; the store has ${known.join(', ') || 'none'}`,
      );
    }
    if (hasReferences(doc)) await checkReferences(doc, this.reader, this.adapter);
    const { namespace, name } = splitKey(doc.key);
    return this.writer.commit(namespace, context, document, async (now) => {
      const puts = creationRecords(doc, now, context.actor, this.keys);
      const view: FlagView = {
        meta: this.openMeta(namespace, puts[0]!.path, puts[0]!.value),
        states: {},
      };
      const written = new Map(puts.map((put) => [put.path, put]));
      for (const env of known) {
        view.states[env] = stateOf(namespace, view.meta, env, written.get(paths.state(env, name)));
      }
      return {
        preconditions: [{ path: paths.flag(name), version: 0 }],
        puts,
        deletes: [],
        event: { action: 'flag.create', flag: doc.key, toVersion: 1, patch: redact(doc) },
        response: view,
        conflict: () => `flag "${doc.key}" already exists`,
      };
    });
  }

  /**
   * Creates many flags: per namespace, up to `batchSize` flags in one atomic commit with one
   * `flag.import` event listing them. A batch holding a key that already exists fails whole with a
   * `ConflictError`; other batches, committed concurrently, may still be written. For bulk loads and applies; references between
   * flags of the same call are checked against the store, so create prerequisites first.
   */
  async createMany(documents: readonly unknown[], context: ChangeContext, batchSize = 500): Promise<number> {
    const known = (await this.environments()).map((e) => e.name);
    const byNamespace = new Map<string, FlagDocument[]>();
    documents.forEach((document, index) => {
      const checked = validateFlag(document);
      if (!checked.ok) {
        const issues = checked.issues.map((i) => ({
          ...i,
          document: (document as { key?: string })?.key ?? `document ${index + 1}`,
        }));
        throw new StoreValidationError(formatIssues(issues), issues);
      }
      const doc = checked.value;
      const unknown = Object.keys(doc.environments).find((env) => !known.includes(env));
      if (unknown !== undefined)
        throw new InvalidOperationError(`${doc.key}: unknown environment "${unknown}"`);
      const { namespace } = splitKey(doc.key);
      const list = byNamespace.get(namespace) ?? [];
      list.push(doc);
      byNamespace.set(namespace, list);
    });
    const batches: { namespace: string; batch: FlagDocument[] }[] = [];
    for (const [namespace, docs] of byNamespace) {
      for (let start = 0; start < docs.length; start += batchSize) {
        batches.push({ namespace, batch: docs.slice(start, start + batchSize) });
      }
    }
    // perf: batches commit concurrently, so the adapter can share transactions and flushes between them.
    let next = 0;
    const commitNext = async (): Promise<void> => {
      while (next < batches.length) {
        const { namespace, batch } = batches[next++]!;
        for (const doc of batch)
          if (hasReferences(doc)) await checkReferences(doc, this.reader, this.adapter);
        const changeContext = { actor: context.actor, ...(context.reason ? { reason: context.reason } : {}) };
        await this.writer.commit(namespace, changeContext, batch, async (now) => {
          const puts: RecordWrite[] = [];
          for (const doc of batch) puts.push(...creationRecords(doc, now, context.actor, this.keys));
          return {
            preconditions: batch.map((doc) => ({ path: paths.flag(splitKey(doc.key).name), version: 0 })),
            puts,
            deletes: [],
            event: { action: 'flag.import', patch: batch.map(redact) },
            response: batch.length,
            conflict: (path) => `flag "${namespace}/${path.slice('flag/'.length)}" already exists`,
          };
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_BATCHES, batches.length) }, commitNext));
    return documents.length;
  }

  /**
   * Changes a flag's state in one environment. With `expectedVersion`, the change applies only to that
   * version (else `ConflictError`); without it, `change` is applied to the latest state, again if another
   * change got in first.
   */
  async updateState(
    key: string,
    environment: string,
    change: {
      expectedVersion?: number;
      /** The new state, or a function of the current one. */
      state: EnvironmentState | ((current: EnvironmentState) => EnvironmentState);
      action?: string;
    },
    context: ChangeContext,
  ): Promise<StateRecord> {
    const { namespace, name } = splitKey(key);
    const request = {
      key,
      environment,
      expectedVersion: change.expectedVersion,
      state: change.state,
      action: change.action,
    };
    // Without an expected version, a change that lost a race is applied again to the newer state.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitState(namespace, name, key, environment, change, request, context);
      } catch (error) {
        if (
          !(error instanceof ConflictError) ||
          change.expectedVersion !== undefined ||
          attempt >= LATEST_RETRIES
        ) {
          throw error;
        }
      }
    }
  }

  private commitState(
    namespace: string,
    name: string,
    key: string,
    environment: string,
    change: Parameters<Flags['updateState']>[2],
    request: unknown,
    context: ChangeContext,
  ): Promise<StateRecord> {
    const statePath = paths.state(environment, name);
    return this.writer.commit(namespace, context, request, async (now) => {
      // perf: the identity and every environment's state in one read.
      const environments = (await this.environments()).map((e) => e.name);
      const [metaRecord, ...stateRecords] = await this.adapter.getMany(namespace, [
        paths.flag(name),
        ...environments.map((env) => paths.state(env, name)),
      ]);
      if (metaRecord === undefined) throw new NotFoundError(`flag "${key}" does not exist`);
      const found = { meta: this.openMeta(namespace, metaRecord.path, metaRecord.value) };
      if (found.meta.archivedAt !== undefined) {
        throw new InvalidOperationError(`flag "${key}" is archived; restore it before changing it`);
      }
      const at = environments.indexOf(environment);
      if (at === -1) throw new NotFoundError(`there is no environment "${environment}"`);
      const records = environments.map((env, i) => stateOf(namespace, found.meta, env, stateRecords[i]));
      const states = new Map(environments.map((env, i) => [env, records[i]!.state]));
      const before = records[at]!;
      const stored = stateRecords[at] !== undefined;
      const expected = change.expectedVersion ?? before.version;
      // The implicit state is version 1 with no record: changing it expects the record to be absent.
      const expectedStored = !stored && expected === 1 ? 0 : expected;
      const next = withoutVersion(
        typeof change.state === 'function' ? change.state(withoutVersion(before.state)) : change.state,
      );
      const doc = validOrThrow(
        validateFlag({ ...this.identity(found.meta), environments: { [environment]: next } }),
      );
      if (hasReferences(doc)) await checkReferences(doc, this.reader, this.adapter);
      const version = expected + 1;
      const record: StateRecord = {
        key,
        environment,
        version,
        state: { ...next, version },
        updatedAt: iso(now),
        updatedBy: context.actor,
      };
      const indexes = this.indexDiff(name, found.meta, states, environment, before.state, next);
      return {
        preconditions: [{ path: statePath, version: expectedStored }],
        puts: [
          { path: statePath, version, value: encodeRecord(record) },
          { path: paths.history(environment, name, before.version), version: 0, value: encodeRecord(before) },
          ...indexes.puts,
        ],
        deletes: [...indexes.deletes, ...this.expiredHistory(environment, name, before.version)],
        event: {
          action: change.action ?? 'state.update',
          flag: key,
          environment,
          fromVersion: expected,
          toVersion: version,
          patch: mergePatch(withoutVersion(before.state), next),
        },
        response: record,
        conflict: (_path, wanted, actual) =>
          `flag "${key}" in "${environment}" is at version ${actual}, not ${wanted}; reload it and try again`,
        // An absent record is the implicit state, version 1.
        reported: { expected, actual: (version) => (version === 0 ? 1 : version) },
      };
    });
  }

  /** Restores the state an environment had at `toVersion`, as a new version. */
  async rollback(
    key: string,
    environment: string,
    toVersion: number,
    expectedVersion: number | undefined,
    context: ChangeContext,
  ): Promise<StateRecord> {
    const { namespace, name } = splitKey(key);
    const path = paths.history(environment, name, toVersion);
    const old = await this.adapter.get(namespace, path);
    if (old === undefined) {
      throw new NotFoundError(
        `flag "${key}" has no version ${toVersion} in "${environment}" (it may have been pruned)`,
      );
    }
    const target = decodeRecord<StateRecord>(namespace, path, old.value);
    return this.updateState(
      key,
      environment,
      {
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
        state: withoutVersion(target.state),
        action: 'state.rollback',
      },
      context,
    );
  }

  /** Earlier states of a flag in an environment, newest first. */
  async history(
    key: string,
    environment: string,
    options: { limit: number; before?: number },
  ): Promise<StateRecord[]> {
    const { namespace, name } = splitKey(key);
    const records = await this.adapter.scan(namespace, paths.historyOf(environment, name), {
      limit: 100_000,
    });
    const states = records
      .map((r) => decodeRecord<StateRecord>(namespace, r.path, r.value))
      .filter((s) => options.before === undefined || s.version < options.before)
      .reverse();
    return states.slice(0, options.limit);
  }

  async archive(key: string, context: ChangeContext): Promise<FlagMeta> {
    return this.changeMeta(key, context, 'flag.archive', (meta, now) => {
      if (meta.archivedAt !== undefined) throw new InvalidOperationError(`flag "${key}" is already archived`);
      return { ...meta, archivedAt: iso(now) };
    });
  }

  async restore(key: string, context: ChangeContext): Promise<FlagMeta> {
    return this.changeMeta(key, context, 'flag.restore', (meta) => {
      if (meta.archivedAt === undefined) throw new InvalidOperationError(`flag "${key}" is not archived`);
      const { archivedAt: _a, ...rest } = meta;
      return rest;
    });
  }

  /** Changes editable metadata (description, tags, owner, lifecycle, removeBy). */
  async updateMeta(
    key: string,
    expectedVersion: number,
    patch: Partial<Pick<FlagMeta, 'description' | 'tags' | 'owner' | 'lifecycle' | 'removeBy'>>,
    context: ChangeContext,
  ): Promise<FlagMeta> {
    return this.changeMeta(
      key,
      context,
      'flag.update',
      (meta) => {
        if (meta.archivedAt !== undefined)
          throw new InvalidOperationError(`flag "${key}" is archived; restore it first`);
        const next = { ...meta, ...patch };
        validOrThrow(validateFlag({ ...this.identity(next), environments: {} }));
        return next;
      },
      expectedVersion,
    );
  }

  /** Deletes an archived flag with its states, history and indexes. The ledger keeps its events. */
  async delete(key: string, context: ChangeContext): Promise<void> {
    const { namespace, name } = splitKey(key);
    await this.writer.commit(namespace, context, { delete: key }, async () => {
      const view = await this.get(key);
      if (view === undefined) throw new NotFoundError(`flag "${key}" does not exist`);
      if (view.meta.archivedAt === undefined) {
        throw new InvalidOperationError(`flag "${key}" must be archived before it can be deleted`);
      }
      const found = await this.meta(key);
      const deletes = [paths.flag(name)];
      const states = new Map<string, EnvironmentState>();
      for (const [env, record] of Object.entries(view.states)) {
        deletes.push(paths.state(env, name));
        states.set(env, record.state);
        for (const h of await this.adapter.scan(namespace, paths.historyOf(env, name), { limit: 100_000 })) {
          deletes.push(h.path);
        }
      }
      deletes.push(
        ...indexRecords({ name, tags: view.meta.tags, description: view.meta.description, states }).keys(),
      );
      return {
        preconditions: [{ path: paths.flag(name), version: found?.version ?? 0 }],
        puts: [],
        deletes,
        event: { action: 'flag.delete', flag: key, fromVersion: found?.version },
        response: undefined,
        conflict: () => `flag "${key}" changed meanwhile; try again`,
      };
    });
  }

  // ---- internals ----

  private identity(meta: FlagMeta): Omit<FlagDocument, 'environments'> {
    const { version: _v, createdAt: _c, createdBy: _b, updatedAt: _u, archivedAt: _a, ...identity } = meta;
    return identity;
  }

  private async changeMeta(
    key: string,
    context: ChangeContext,
    action: string,
    change: (meta: FlagMeta, now: number) => FlagMeta,
    expectedVersion?: number,
  ): Promise<FlagMeta> {
    const { namespace, name } = splitKey(key);
    const path = paths.flag(name);
    return this.writer.commit(
      namespace,
      context,
      { key, action, expectedVersion },
      async (now): Promise<Draft<FlagMeta>> => {
        const found = await this.meta(key);
        if (found === undefined) throw new NotFoundError(`flag "${key}" does not exist`);
        const expected = expectedVersion ?? found.version;
        const version = expected + 1;
        const next = { ...change(found.meta, now), version, updatedAt: iso(now) };
        const indexes = await this.indexDiffForMeta(namespace, name, found.meta, next);
        return {
          preconditions: [{ path, version: expected }],
          puts: [{ path, version, value: encodeRecord(sealMeta(next, this.keys)) }, ...indexes.puts],
          deletes: indexes.deletes,
          event: {
            action,
            flag: key,
            fromVersion: expected,
            toVersion: version,
            patch: mergePatch(redact(found.meta), redact(next)),
          },
          response: next,
          conflict: (_p, wanted, actual) =>
            `flag "${key}" metadata is at version ${actual}, not ${wanted}; reload it`,
        };
      },
    );
  }

  private async allStates(
    namespace: string,
    name: string,
    meta: FlagMeta,
  ): Promise<Map<string, EnvironmentState>> {
    const states = new Map<string, EnvironmentState>();
    for (const [env, record] of await this.stateRecords(namespace, name, meta)) states.set(env, record.state);
    return states;
  }

  private indexDiff(
    name: string,
    meta: FlagMeta,
    states: ReadonlyMap<string, EnvironmentState>,
    environment: string,
    before: EnvironmentState,
    after: EnvironmentState,
  ): { puts: RecordWrite[]; deletes: string[] } {
    const indexed = (state: EnvironmentState) =>
      indexRecords({
        name,
        tags: meta.tags,
        description: meta.description,
        states: new Map(states).set(environment, state),
      });
    return this.asWrites(indexChanges(indexed(before), indexed(after)));
  }

  private async indexDiffForMeta(namespace: string, name: string, before: FlagMeta, after: FlagMeta) {
    const states = await this.allStates(namespace, name, before);
    const old = indexRecords({ name, tags: before.tags, description: before.description, states });
    const now = indexRecords({ name, tags: after.tags, description: after.description, states });
    return this.asWrites(indexChanges(old, now));
  }

  private asWrites(changes: { puts: [string, string][]; deletes: string[] }): {
    puts: RecordWrite[];
    deletes: string[];
  } {
    return {
      puts: changes.puts.map(([path, value]) => ({ path, version: 0, value: indexValue(value) })),
      deletes: changes.deletes,
    };
  }

  /**
   * The history entry that falls out of retention when `newest` is added. Retention runs on every write,
   * so it is exactly one version, deleted by path without a scan (a missing one deletes nothing).
   */
  private expiredHistory(environment: string, name: string, newest: number): string[] {
    const expired = newest - this.historyLimit;
    return expired >= 1 ? [paths.history(environment, name, expired)] : [];
  }
}
