/**
 * Where delivery gets its data. The server reads its store and follows the ledger; a relay follows its
 * upstream. Either way the hub sees the same thing: a namespace's records per environment at a
 * position, then patches in sequence order.
 */
import type { Identity } from './view.js';

/** Changes of one namespace up to `seq`: for each environment, the record lines that changed. */
export interface SourcePatch {
  namespace: string;
  seq: number;
  /** Epoch ms of the earliest commit the patch covers (propagation lag is measured from it). */
  committedAt: number;
  /** Upserts `F key\t{…}` / `S key\t{…}` and removals `-F key` / `-S key`, per environment. */
  lines: Map<string, string[]>;
}

export interface SourceEvents {
  /** Patches of a followed namespace, in sequence order, each once. */
  patch(patch: SourcePatch): void;
  /**
   * A followed namespace must be loaded again (its patches no longer reach back to where it stood);
   * `reset` when the new data may stand at an earlier position than the old (the upstream was reset).
   */
  reload(namespace: string, reset?: boolean): void;
  /** A namespace the source had not reported before has data (a hint; it may repeat). */
  namespace?(namespace: string): void;
}

export interface DeliverySource {
  /** Namespaces that hold data, selected by namespace or prefix (every namespace when empty). */
  namespaces(selectors: readonly string[]): Promise<string[]>;
  /**
   * Whether an environment exists (the store's environments; a relay's own). Delivery answers 404 for
   * any other, never an empty snapshot.
   */
  hasEnvironment(environment: string): Promise<boolean>;
  /** Whether a namespace holds data. */
  exists(namespace: string): Promise<boolean>;
  /** Where a namespace's ledger stands now. */
  head(namespace: string): Promise<number>;
  /** A namespace's records in one environment, as lines, reflecting at least position `head()` read before. */
  lines(namespace: string, environment: string): AsyncIterable<string[]>;
  /**
   * Follows a namespace from `from`: patches for the environments `environments()` names when each is
   * produced. Following a namespace twice is a no-op.
   */
  follow(namespace: string, from: number): Promise<void>;
  /** Records changed in (`from`, `to`], or undefined when the source can no longer tell (pruned). */
  changedSince(
    namespace: string,
    environment: string,
    from: number,
    to: number,
  ): Promise<Set<Identity> | undefined>;
  /**
   * Whether a flag is left out of `lines` because its stored record is damaged (so that asking for it
   * answers that, not "no such flag"). Sources that cannot tell leave it out.
   */
  damaged?(namespace: string, environment: string, name: string): Promise<boolean>;
  /** Starts telling `events`; `environments` says which environments patches should cover. */
  start(events: SourceEvents, environments: (namespace: string) => readonly string[]): void;
  close(): void;
}
