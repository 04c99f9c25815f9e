/**
 * The delivery hub: the namespaces of each environment that clients asked for, held in memory as views,
 * loaded on first request, kept current from the source's patches, and fanned out to listeners (the
 * streams). Nothing is loaded up front: the cost of a namespace is paid once, when someone first asks.
 *
 * Ordering: a view applies a patch only when its sequence is beyond the view's, so data never moves
 * back; patches that arrive while a view loads are held and applied after it, from its position on.
 *
 * Memory: views a stream holds are pinned (`pin`/`unpin`) and kept; the others (loaded for a snapshot or
 * an evaluation) are kept least recently used first, at most `maxIdleViews` of them, and loaded again
 * when asked for after being evicted.
 */
import { type CompiledFlag, type EngineOptions, type EvaluationScope, splitKey } from '@switchyard/core';
import { LRUCache } from 'lru-cache';
import type { DeliverySource, SourcePatch } from './source.js';
import { NamespaceView, type ViewEngine } from './view.js';

export interface HubListener {
  readonly environment: string;
  /** Whether the listener wants this namespace (its selection covers it). */
  selects(namespace: string): boolean;
  /** Whether the listener already holds this namespace. */
  holds(namespace: string): boolean;
  /** A view moved to `seq` with these lines (never called for a namespace the listener does not hold). */
  patch(view: NamespaceView, seq: number, committedAt: number, lines: readonly string[]): void;
  /**
   * A view was loaded anew (new namespace, or reloaded): the listener should send it whole; `reset`
   * when its data replaces a later position (the source was restored or reset).
   */
  replaced(view: NamespaceView, reset?: boolean): void;
}

export interface HubObserver {
  /** A patch was applied to a view: `lagMs` from its earliest commit. */
  applied?(environment: string, lagMs: number): void;
  error?(error: unknown): void;
}

/** Namespaces loaded at once by one request. */
const LOAD_CONCURRENCY = 4;
/** Views no stream holds kept in memory by default. */
export const DEFAULT_MAX_IDLE_VIEWS = 2000;
/** Environments remembered as existing (there are a handful; this only bounds the set). */
const MAX_KNOWN_ENVIRONMENTS = 1000;

export interface HubOptions {
  clock?: () => number;
  observer?: HubObserver;
  /** Views no stream holds kept at most (least recently used evicted first). */
  maxIdleViews?: number;
}

const key = (environment: string, namespace: string) => `${environment}\u0000${namespace}`;

export class DeliveryHub {
  /** Views some stream holds: never evicted. */
  private readonly pinned = new Map<string, NamespaceView>();
  /** Streams holding each view (by key), for those with any. */
  private readonly pins = new Map<string, number>();
  /** Views no stream holds, least recently used evicted first. */
  private readonly idle: LRUCache<string, NamespaceView>;
  private readonly knownEnvironments = new Set<string>();
  private readonly loading = new Map<string, { done: Promise<NamespaceView>; held: SourcePatch[] }>();
  /** Environments with a view or a load under way, per namespace. */
  private readonly environments = new Map<string, Set<string>>();
  private readonly listeners = new Set<HubListener>();
  private readonly scopes = new Map<string, EnvironmentScope>();

  constructor(
    readonly source: DeliverySource,
    private readonly options: HubOptions = {},
  ) {
    this.idle = new LRUCache<string, NamespaceView>({
      max: options.maxIdleViews ?? DEFAULT_MAX_IDLE_VIEWS,
      // An evicted view is no longer kept current: patches for its environment are not read any more.
      dispose: (view, _key, reason) => {
        if (reason === 'evict') this.environments.get(view.namespace)?.delete(view.environment);
      },
    });
    source.start(
      {
        patch: (patch) => this.onPatch(patch),
        reload: (namespace, reset) => void this.reload(namespace, reset === true),
        namespace: (namespace) => void this.onNamespace(namespace),
      },
      (namespace) => [...(this.environments.get(namespace) ?? [])],
    );
  }

  private get clock(): () => number {
    return this.options.clock ?? Date.now;
  }

  private held(k: string): NamespaceView | undefined {
    return this.pinned.get(k) ?? this.idle.get(k);
  }

  private keep(k: string, view: NamespaceView): void {
    if ((this.pins.get(k) ?? 0) > 0) this.pinned.set(k, view);
    else this.idle.set(k, view);
  }

  private forget(k: string): void {
    this.pinned.delete(k);
    this.idle.delete(k);
  }

  /** A stream holds the view of this namespace: keep it (and keep it current) until `unpin`. */
  pin(environment: string, namespace: string): void {
    const k = key(environment, namespace);
    const count = (this.pins.get(k) ?? 0) + 1;
    this.pins.set(k, count);
    if (count === 1) {
      const view = this.idle.peek(k);
      if (view !== undefined) {
        this.idle.delete(k);
        this.pinned.set(k, view);
      }
    }
  }

  unpin(environment: string, namespace: string): void {
    const k = key(environment, namespace);
    const count = (this.pins.get(k) ?? 0) - 1;
    if (count > 0) {
      this.pins.set(k, count);
      return;
    }
    this.pins.delete(k);
    const view = this.pinned.get(k);
    if (view !== undefined) {
      this.pinned.delete(k);
      this.idle.set(k, view);
    }
  }

  /**
   * Whether the environment exists: without a promise when it is known to. Existing environments are
   * remembered; an unknown name is asked about every time (it may be created meanwhile).
   */
  environmentExists(environment: string): boolean | Promise<boolean> {
    if (this.knownEnvironments.has(environment)) return true;
    return this.source.hasEnvironment(environment).then((exists) => {
      if (exists && this.knownEnvironments.size < MAX_KNOWN_ENVIRONMENTS) {
        this.knownEnvironments.add(environment);
      }
      return exists;
    });
  }

  /** The view if it is loaded, without waiting. */
  loaded(environment: string, namespace: string): NamespaceView | undefined {
    return this.held(key(environment, namespace));
  }

  /** The view of a namespace in an environment, loading it on first use. */
  view(environment: string, namespace: string): Promise<NamespaceView> {
    const k = key(environment, namespace);
    const view = this.held(k);
    if (view !== undefined) return Promise.resolve(view);
    const pending = this.loading.get(k);
    if (pending !== undefined) return pending.done;
    return this.load(environment, namespace);
  }

  private load(environment: string, namespace: string): Promise<NamespaceView> {
    const k = key(environment, namespace);
    const held: SourcePatch[] = [];
    let envs = this.environments.get(namespace);
    if (envs === undefined) {
      envs = new Set();
      this.environments.set(namespace, envs);
    }
    envs.add(environment);
    const done = (async () => {
      try {
        const seq = await this.source.head(namespace);
        // Follow first: patches from here on are held while the records are read.
        await this.source.follow(namespace, seq);
        const lines: string[] = [];
        for await (const page of this.source.lines(namespace, environment)) {
          for (const line of page) lines.push(line);
        }
        const view = new NamespaceView(namespace, environment, seq, lines);
        for (const patch of held) this.applyTo(view, patch);
        this.keep(k, view);
        return view;
      } catch (error) {
        envs.delete(environment);
        throw error;
      } finally {
        this.loading.delete(k);
      }
    })();
    this.loading.set(k, { done, held });
    return done;
  }

  /** The views of the namespaces `selectors` selects that exist now, loaded. */
  async select(environment: string, selectors: readonly string[]): Promise<NamespaceView[]> {
    const namespaces = await this.source.namespaces(selectors);
    const views: NamespaceView[] = new Array(namespaces.length);
    // perf: a few namespaces load at a time, so a first request for a million flags holds the records
    // being read for a few namespaces at once rather than for all of them.
    let next = 0;
    const worker = async () => {
      while (next < namespaces.length) {
        const i = next++;
        views[i] = await this.view(environment, namespaces[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, namespaces.length) }, worker));
    return views;
  }

  /** The view of the namespace, only if the namespace exists (so that unknown names load nothing). */
  async existing(environment: string, namespace: string): Promise<NamespaceView | undefined> {
    const view = this.loaded(environment, namespace);
    if (view !== undefined) return view;
    if (!this.loading.has(key(environment, namespace)) && !(await this.source.exists(namespace))) {
      return undefined;
    }
    return this.view(environment, namespace);
  }

  listen(listener: HubListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private onPatch(patch: SourcePatch): void {
    // The patch as it came: `applyTo` reads only the lines of the view's own environment.
    for (const environment of patch.lines.keys()) {
      const k = key(environment, patch.namespace);
      const pending = this.loading.get(k);
      if (pending !== undefined) {
        pending.held.push(patch);
        continue;
      }
      // perf: peek, not get: a patch is not a use, and must not keep an idle view from eviction.
      const view = this.pinned.get(k) ?? this.idle.peek(k);
      if (view !== undefined) this.applyTo(view, patch);
    }
  }

  private applyTo(view: NamespaceView, patch: SourcePatch): void {
    if (patch.seq <= view.seq) return;
    const lines = patch.lines.get(view.environment) ?? [];
    view.apply(patch.seq, patch.committedAt, lines);
    this.options.observer?.applied?.(view.environment, this.clock() - patch.committedAt);
    if (lines.length === 0) return;
    for (const listener of this.listeners) {
      if (listener.environment === view.environment && listener.holds(view.namespace)) {
        listener.patch(view, patch.seq, patch.committedAt, lines);
      }
    }
  }

  /** Loads every view of a namespace again, and hands the new views to the listeners holding it. */
  private async reload(namespace: string, reset: boolean): Promise<void> {
    for (const environment of [...(this.environments.get(namespace) ?? [])]) {
      const k = key(environment, namespace);
      // Evicted views are not listed here (eviction drops their environment), so are not loaded again.
      this.forget(k);
      try {
        const view = await this.load(environment, namespace);
        for (const listener of this.listeners) {
          if (listener.environment === environment && listener.holds(namespace))
            listener.replaced(view, reset);
        }
      } catch (error) {
        this.options.observer?.error?.(error);
      }
    }
  }

  /** A namespace has data: listeners whose selection covers it and who do not hold it get it whole. */
  private async onNamespace(namespace: string): Promise<void> {
    for (const listener of this.listeners) {
      if (!listener.selects(namespace) || listener.holds(namespace)) continue;
      try {
        const view = await this.view(listener.environment, namespace);
        if (!listener.holds(namespace)) listener.replaced(view);
      } catch (error) {
        this.options.observer?.error?.(error);
      }
    }
  }

  /** One environment's namespaces as one evaluation scope (for OFREP). */
  scope(environment: string): EnvironmentScope {
    let scope = this.scopes.get(environment);
    if (scope === undefined) {
      scope = new EnvironmentScope(this, environment, this.clock);
      this.scopes.set(environment, scope);
    }
    return scope;
  }

  /** Views loaded, and records they hold, for metrics. */
  stats(): { views: number; records: number } {
    let records = 0;
    for (const view of this.pinned.values()) records += view.records;
    for (const view of this.idle.values()) records += view.records;
    return { views: this.pinned.size + this.idle.size, records };
  }

  close(): void {
    this.source.close();
    this.listeners.clear();
  }
}

/**
 * An environment's loaded namespaces seen as one: each view's engine looks up prerequisites and
 * segments of other namespaces here. A lookup of a namespace not loaded yet finds nothing and is noted
 * in `missing`, so the caller can load it and evaluate again.
 */
export class EnvironmentScope implements EvaluationScope {
  readonly missing = new Set<string>();
  /** What a view's engine is built with, the first time it is asked for (built once, not per lookup). */
  private readonly engineOptions: EngineOptions;

  constructor(
    private readonly hub: DeliveryHub,
    readonly environment: string,
    clock: () => number,
  ) {
    this.engineOptions = { environment, clock, scope: this };
  }

  /** The engine of a loaded namespace; undefined when it is not loaded, without noting it in `missing`. */
  loadedEngine(namespace: string): ViewEngine | undefined {
    return this.hub.loaded(this.environment, namespace)?.engine(this.engineOptions);
  }

  engineOf(namespace: string): ViewEngine | undefined {
    const engine = this.loadedEngine(namespace);
    if (engine === undefined) this.missing.add(namespace);
    return engine;
  }

  flag(flagKey: string): CompiledFlag | undefined {
    return this.engineOf(splitKey(flagKey).namespace)?.flag(flagKey);
  }

  inSegment(segmentKey: string, context: Record<string, unknown>): boolean {
    return this.engineOf(splitKey(segmentKey).namespace)?.inSegment(segmentKey, context) ?? false;
  }
}
