/**
 * A relay's delivery source: what its upstream sends, kept in the relay's LMDB and handed to the hub.
 * Snapshots replace the namespaces they cover; patches apply only beyond the stored position, so a
 * duplicated or late patch never moves a flag back. What changed since a position is answered from a
 * window of recent patches; beyond it, the hub sends a snapshot of the namespace.
 */

import { lineIdentity, namespaceOf, scanRecordLines } from '@switchyard/core';
import type { PatchEvent, SnapshotEvent } from '@switchyard/sdk';
import type { DeliverySource, Identity, SourceEvents } from '@switchyard/server';
import { selectedBy } from '@switchyard/server';
import type { RelayStore } from './relay-store.js';

/** Patches remembered per namespace to answer resumes. */
const WINDOW = 4096;

interface Remembered {
  seq: number;
  identities: Identity[];
}

/**
 * Where each namespace's record lines are in a snapshot body: [start, end, start, end, …] by namespace.
 * perf: offsets, not strings, so that a million-flag snapshot is turned into text a namespace at a time.
 */
function linesByNamespace(bytes: Buffer, bodyStart: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  scanRecordLines(bytes, bodyStart, (_kind, key, start, end) => {
    const namespace = namespaceOf(key);
    const ranges = out.get(namespace);
    if (ranges === undefined) out.set(namespace, [start, end]);
    else ranges.push(start, end);
  });
  return out;
}

/** The lines at `ranges` of `bytes`, as views of them (no copy). */
function linesAt(bytes: Buffer, ranges: readonly number[]): Buffer[] {
  const lines: Buffer[] = [];
  for (let i = 0; i < ranges.length; i += 2) lines.push(bytes.subarray(ranges[i], ranges[i + 1]));
  return lines;
}

export class RelaySource implements DeliverySource {
  private events: SourceEvents | undefined;
  private readonly recent = new Map<string, Remembered[]>();
  /** Per namespace, the position after which `recent` holds every patch. */
  private readonly windowStart = new Map<string, number>();
  /** Whether a snapshot of the upstream was applied since the relay started. */
  private received = false;

  constructor(
    private readonly store: RelayStore,
    readonly environment: string,
    private readonly onApplied: (committedAt: number) => void = () => {},
  ) {
    // Patches after the stored positions are all the relay will have applied since it started.
    for (const [namespace, seq] of Object.entries(store.allPositions())) this.windowStart.set(namespace, seq);
  }

  start(events: SourceEvents): void {
    this.events = events;
  }

  /**
   * Whether the relay has data to serve: namespaces it holds, or a snapshot its upstream sent (which may
   * hold none). Without, an answer would be an empty snapshot that claims to be complete.
   */
  get hasData(): boolean {
    return this.received || this.store.size > 0;
  }

  /** A snapshot from upstream: replaces what it covers; a complete one also drops what it leaves out. */
  snapshot(event: SnapshotEvent): void {
    this.received = true;
    const byNamespace = linesByNamespace(event.bytes, event.bodyStart);
    const time = Date.parse(String(event.header.time ?? '')) || 0;
    for (const namespace of event.namespaces) {
      const seq = event.positions[namespace] ?? 0;
      const known = this.store.position(namespace) !== undefined;
      const reset = event.header.reset === true;
      const lines = linesAt(event.bytes, byNamespace.get(namespace) ?? []);
      if (!this.store.replaceNamespace(namespace, seq, time, lines, reset)) continue;
      this.recent.delete(namespace);
      this.windowStart.set(namespace, seq);
      if (known) this.events?.reload(namespace, reset);
      else this.events?.namespace?.(namespace);
    }
    if (event.complete) {
      for (const namespace of this.store.namespaces()) {
        if (event.positions[namespace] === undefined) {
          this.store.dropNamespace(namespace);
          this.recent.delete(namespace);
          this.windowStart.delete(namespace);
          this.events?.reload(namespace);
        }
      }
    }
  }

  patch(event: PatchEvent): void {
    const before = this.store.position(event.namespace)?.seq ?? 0;
    if (!this.store.applyPatch(event.namespace, event.seq, event.committedAt, event.changes)) return;
    const lines = event.changes.map((change) => change.line);
    if (!this.windowStart.has(event.namespace)) this.windowStart.set(event.namespace, before);
    let window = this.recent.get(event.namespace);
    if (window === undefined) {
      window = [];
      this.recent.set(event.namespace, window);
    }
    window.push({ seq: event.seq, identities: lines.map(lineIdentity) });
    if (window.length > WINDOW) {
      const dropped = window.splice(0, window.length - WINDOW);
      this.windowStart.set(event.namespace, dropped[dropped.length - 1]!.seq);
    }
    this.onApplied(event.committedAt);
    this.events?.patch({
      namespace: event.namespace,
      seq: event.seq,
      committedAt: event.committedAt,
      lines: new Map([[this.environment, lines]]),
    });
  }

  async namespaces(selectors: readonly string[]): Promise<string[]> {
    return this.store.namespaces().filter((namespace) => selectedBy(selectors, namespace));
  }

  async hasEnvironment(environment: string): Promise<boolean> {
    return environment === this.environment;
  }

  async exists(namespace: string): Promise<boolean> {
    return this.store.position(namespace) !== undefined;
  }

  async head(namespace: string): Promise<number> {
    return this.store.position(namespace)?.seq ?? 0;
  }

  lines(namespace: string, environment: string): AsyncIterable<string[]> {
    if (environment !== this.environment) return (async function* () {})();
    return this.store.namespaceLines(namespace);
  }

  async follow(): Promise<void> {
    // The upstream feed follows every namespace of the relay's selection already.
  }

  async changedSince(
    namespace: string,
    _environment: string,
    from: number,
    to: number,
  ): Promise<Set<Identity> | undefined> {
    // The window covers every patch after its start; a position before that needs a snapshot.
    const start = this.windowStart.get(namespace);
    if (start === undefined || from < start) return undefined;
    const changed = new Set<Identity>();
    for (const entry of this.recent.get(namespace) ?? []) {
      if (entry.seq <= from || entry.seq > to) continue;
      for (const identity of entry.identities) changed.add(identity);
    }
    return changed;
  }

  close(): void {}
}
