/**
 * The server's delivery source: records read from the store, changes from the ledger's change feed.
 * Events are turned into patches a batch at a time per namespace: the records they touched are read
 * back from the store (so a patch carries whole current records, never a diff to replay), which keeps
 * patches idempotent and lets sensitive values, redacted in the ledger, reach SDKs.
 */
import { flagLine, segmentLine } from '@switchyard/core';
import {
  type ChangeEvent,
  type DeliveredRecord,
  type FlagStore,
  type Subscription,
  SYSTEM_NAMESPACE,
  touchedBy,
} from '@switchyard/store';
import { selects } from './positions.js';
import type { DeliverySource, SourceEvents } from './source.js';
import type { Identity } from './view.js';

const NAMESPACE_PAGE = 1000;
/** Ledger events read at most when working out what changed since a position; beyond, a snapshot. */
const CHANGED_SINCE_LIMIT = 10_000;

function recordLine(delivered: DeliveredRecord): string {
  const kind = delivered.kind === 'flag' ? 'F' : 'S';
  if (delivered.record === undefined) return `-${kind} ${delivered.key}`;
  return delivered.kind === 'flag' ? flagLine(delivered.record) : segmentLine(delivered.record);
}

/**
 * A record some ledger events changed: its kind, its name in the namespace, and the environments it
 * changed in (`*`: all of them).
 */
interface Change {
  readonly kind: 'F' | 'S';
  readonly name: string;
  readonly environments: Set<string>;
}

/** The records some ledger events changed, by identity (`F ns/name`, `S ns/name`). */
function changesOf(namespace: string, events: readonly ChangeEvent[]): Map<Identity, Change> {
  const out = new Map<Identity, Change>();
  for (const event of events) {
    const touched = touchedBy(event);
    for (const [kind, names] of [
      ['F', touched.flags],
      ['S', touched.segments],
    ] as const) {
      for (const name of names) {
        const identity = `${kind} ${namespace}/${name}`;
        let change = out.get(identity);
        if (change === undefined) {
          change = { kind, name, environments: new Set() };
          out.set(identity, change);
        }
        change.environments.add(touched.environment ?? '*');
      }
    }
  }
  return out;
}

const changedIn = (environments: Set<string> | undefined, environment: string) =>
  environments !== undefined && (environments.has('*') || environments.has(environment));

export class StoreSource implements DeliverySource {
  private events: SourceEvents | undefined;
  private environments: (namespace: string) => readonly string[] = () => [];
  private subscription: Subscription | undefined;
  private unwatch: (() => void) | undefined;
  /** Events received and not yet turned into a patch, per namespace. */
  private readonly queued = new Map<string, ChangeEvent[]>();
  private readonly draining = new Set<string>();

  constructor(
    private readonly store: FlagStore,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  start(events: SourceEvents, environments: (namespace: string) => readonly string[]): void {
    this.events = events;
    this.environments = environments;
    this.subscription = this.store.ledger.subscribe(
      [],
      {},
      {
        event: (event) => this.enqueue(event),
        reset: (namespace) => {
          this.queued.delete(namespace);
          events.reload(namespace);
        },
        error: (error) => this.onError(error),
      },
    );
    this.unwatch = this.store.adapter.watch((namespace) => {
      if (namespace !== SYSTEM_NAMESPACE) events.namespace?.(namespace);
    });
  }

  async namespaces(selectors: readonly string[]): Promise<string[]> {
    const out = new Set<string>();
    for (const prefix of selectors.length === 0 ? [''] : selectors) {
      let after: string | undefined;
      for (;;) {
        const page = await this.store.adapter.namespaces(
          prefix,
          after === undefined ? { limit: NAMESPACE_PAGE } : { after, limit: NAMESPACE_PAGE },
        );
        for (const namespace of page) {
          // A prefix selects the namespace itself and those under it, not `prefix-other`.
          if (namespace !== SYSTEM_NAMESPACE && (prefix === '' || selects(prefix, namespace)))
            out.add(namespace);
        }
        if (page.length < NAMESPACE_PAGE) break;
        after = page[page.length - 1];
      }
    }
    return [...out].sort();
  }

  async hasEnvironment(environment: string): Promise<boolean> {
    // Cached by the store for a few seconds and cleared when environments change.
    return (await this.store.flags.environments()).some((e) => e.name === environment);
  }

  async exists(namespace: string): Promise<boolean> {
    if (namespace === SYSTEM_NAMESPACE) return false;
    return (await this.store.adapter.ledgerHead(namespace)).seq > 0;
  }

  async head(namespace: string): Promise<number> {
    return (await this.store.adapter.ledgerHead(namespace)).seq;
  }

  async *lines(namespace: string, environment: string): AsyncIterable<string[]> {
    for await (const page of this.store.delivery.segments(namespace, environment)) {
      yield page.map(segmentLine);
    }
    for await (const page of this.store.delivery.flags(namespace, environment)) {
      yield page.map(flagLine);
    }
  }

  damaged(namespace: string, environment: string, name: string): Promise<boolean> {
    return this.store.delivery.damaged(namespace, environment, name);
  }

  async follow(namespace: string, from: number): Promise<void> {
    await this.subscription?.add(namespace, from);
  }

  async changedSince(
    namespace: string,
    environment: string,
    from: number,
    to: number,
  ): Promise<Set<Identity> | undefined> {
    if (to - from > CHANGED_SINCE_LIMIT) return undefined;
    const events = await this.store.ledger.events(namespace, from + 1, to - from);
    // The ledger must reach back to `from + 1`, or the events in between were pruned.
    if (to > from && (events.length === 0 || events[0]!.seq !== from + 1)) return undefined;
    const changed = new Set<Identity>();
    for (const [identity, change] of changesOf(namespace, events)) {
      if (changedIn(change.environments, environment)) changed.add(identity);
    }
    return changed;
  }

  private enqueue(event: ChangeEvent): void {
    const list = this.queued.get(event.namespace);
    if (list === undefined) this.queued.set(event.namespace, [event]);
    else list.push(event);
    if (!this.draining.has(event.namespace)) void this.drain(event.namespace);
  }

  /** Turns the queued events of a namespace into patches, one batch at a time, in order. */
  private async drain(namespace: string): Promise<void> {
    this.draining.add(namespace);
    try {
      for (;;) {
        const batch = this.queued.get(namespace);
        if (batch === undefined || batch.length === 0) return;
        this.queued.delete(namespace);
        await this.patchFor(namespace, batch);
      }
    } finally {
      this.draining.delete(namespace);
    }
  }

  private async patchFor(namespace: string, batch: ChangeEvent[]): Promise<void> {
    const environments = this.environments(namespace);
    const changes = changesOf(namespace, batch);
    const flags: string[] = [];
    const segments: string[] = [];
    for (const change of changes.values()) (change.kind === 'F' ? flags : segments).push(change.name);
    const last = batch[batch.length - 1]!;
    let committedAt = Number.POSITIVE_INFINITY;
    for (const event of batch) committedAt = Math.min(committedAt, Date.parse(event.time));
    const lines = new Map<string, string[]>(environments.map((env) => [env, []]));
    if (environments.length > 0 && changes.size > 0) {
      let records: Map<string, DeliveredRecord[]>;
      for (let attempt = 0; ; attempt++) {
        try {
          records = await this.store.delivery.records(namespace, { flags, segments }, environments);
          break;
        } catch (error) {
          this.onError(error);
          // The store is unreachable: keep the order by retrying this batch before any later one.
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** attempt)));
        }
      }
      for (const [env, delivered] of records) {
        const out = lines.get(env)!;
        for (const record of delivered) {
          const identity = `${record.kind === 'flag' ? 'F' : 'S'} ${record.key}`;
          if (changedIn(changes.get(identity)?.environments, env)) out.push(recordLine(record));
        }
      }
    }
    this.events?.patch({ namespace, seq: last.seq, committedAt, lines });
  }

  close(): void {
    this.subscription?.close();
    this.unwatch?.();
  }
}
