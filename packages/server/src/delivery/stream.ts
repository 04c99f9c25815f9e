/**
 * The stream: Server-Sent Events to SDKs and relays. Connections that asked for the same environment
 * and namespaces form a group, which builds each frame once and writes it to all of them.
 *
 * A connection that resumes first catches up (a patch per namespace with what changed since its
 * position, or a snapshot of the namespace), while the live patches that arrive meanwhile wait in its
 * queue; those its catch-up already covers are dropped, so nothing is missed and nothing goes back.
 */
import type { ServerResponse } from 'node:http';
import { heartbeatFrame, patchFrame, positionsOf, snapshotFrame } from './frames.js';
import type { DeliveryHub, HubListener } from './hub.js';
import type { DeliveryMetrics } from './metrics.js';
import { encodePositions, type Positions, selectedBy } from './positions.js';
import type { NamespaceView } from './view.js';

export interface StreamSettings {
  heartbeatMs: number;
  /** A connection whose unsent bytes exceed this is closed (it reconnects and resumes). */
  maxBufferedBytes: number;
  clock: () => number;
  /** How stale the data is (a relay whose upstream is down). */
  health: () => { stale: boolean; staleSeconds: number };
}

interface Queued {
  namespace: string;
  seq: number;
  frame: string;
}

/** Frames waiting for a slow connection beyond which it is closed (it reconnects and resumes). */
const MAX_PENDING_FRAMES = 10_000;

class Connection {
  /** Live frames held while the connection catches up; undefined once it is live. */
  queue: Queued[] | undefined = [];
  /** Per namespace, the position its catch-up reached. */
  readonly reached = new Map<string, number>();
  /** Frames not yet handed to the socket, in order; each a string or the parts of one. */
  private readonly pending: Iterator<string>[] = [];
  private blocked = false;

  constructor(
    readonly response: ServerResponse,
    private readonly maxBufferedBytes: number,
  ) {}

  send(namespace: string, seq: number, frame: string): void {
    if (this.queue !== undefined) this.queue.push({ namespace, seq, frame });
    else this.write(frame);
  }

  /**
   * Writes a frame after those before it. Parts are handed to the socket while it accepts them and
   * then as it drains, so a large snapshot never sits whole in memory.
   */
  write(frame: string | Iterable<string>): void {
    if (this.response.destroyed) return;
    this.pending.push(typeof frame === 'string' ? [frame][Symbol.iterator]() : frame[Symbol.iterator]());
    if (this.pending.length > MAX_PENDING_FRAMES || this.response.writableLength > this.maxBufferedBytes) {
      this.response.destroy();
      return;
    }
    if (!this.blocked) this.pump();
  }

  private pump(): void {
    while (this.pending.length > 0 && !this.response.destroyed) {
      const next = this.pending[0]!.next();
      if (next.done) {
        this.pending.shift();
        continue;
      }
      if (!this.response.write(next.value)) {
        this.blocked = true;
        this.response.once('drain', () => {
          this.blocked = false;
          this.pump();
        });
        return;
      }
    }
  }

  /** Writes what waited, except what the catch-up already covered, and goes live. */
  goLive(): void {
    const queue = this.queue ?? [];
    this.queue = undefined;
    for (const item of queue) {
      if (item.seq > (this.reached.get(item.namespace) ?? 0)) this.write(item.frame);
    }
  }
}

class StreamGroup implements HubListener {
  readonly connections = new Set<Connection>();
  private readonly views = new Map<string, NamespaceView>();
  private heartbeat: NodeJS.Timeout | undefined;
  unlisten: () => void = () => {};

  constructor(
    readonly environment: string,
    private readonly selectors: readonly string[],
    private readonly mayRead: (namespace: string) => boolean,
    private readonly settings: StreamSettings,
    private readonly metrics: DeliveryMetrics | undefined,
  ) {}

  adopt(views: readonly NamespaceView[]): void {
    for (const view of views) if (!this.views.has(view.namespace)) this.views.set(view.namespace, view);
  }

  held(): NamespaceView[] {
    return [...this.views.values()];
  }

  selects(namespace: string): boolean {
    return selectedBy(this.selectors, namespace) && this.mayRead(namespace);
  }

  holds(namespace: string): boolean {
    return this.views.has(namespace);
  }

  private id(): string {
    return encodePositions(positionsOf(this.views.values()));
  }

  patch(view: NamespaceView, seq: number, committedAt: number, lines: readonly string[]): void {
    const frame = patchFrame(view.namespace, seq, committedAt, lines, this.id());
    for (const connection of this.connections) connection.send(view.namespace, seq, frame);
    this.metrics?.patchesSent.inc({ region: this.metrics.region }, this.connections.size);
  }

  replaced(view: NamespaceView, reset = false): void {
    this.views.set(view.namespace, view);
    if (this.connections.size === 0) return;
    const now = this.settings.clock();
    const id = this.id();
    // perf: the frame is encoded once for the whole group; a lone connection takes it part by part as
    // it drains, several share the parts (each reads them with its own iterator).
    const frame = snapshotFrame(this.environment, [view], now, id, { complete: false, reset });
    const parts: Iterable<string> = this.connections.size === 1 ? frame : [...frame];
    let joined: string | undefined;
    for (const connection of this.connections) {
      connection.reached.set(view.namespace, view.seq);
      // A connection still catching up gets it after its catch-up, in order, like any queued frame.
      if (connection.queue !== undefined) {
        joined ??= [...parts].join('');
        connection.queue.push({ namespace: view.namespace, seq: Number.POSITIVE_INFINITY, frame: joined });
      } else connection.write(parts);
    }
  }

  startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      const positions = positionsOf(this.views.values());
      const frame = heartbeatFrame(
        encodePositions(positions),
        this.settings.clock(),
        positions,
        this.settings.health(),
      );
      for (const connection of this.connections) if (connection.queue === undefined) connection.write(frame);
    }, this.settings.heartbeatMs);
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.heartbeat);
    this.unlisten();
    for (const connection of this.connections) connection.response.end();
  }
}

export class Streams {
  private readonly groups = new Map<string, StreamGroup>();

  constructor(
    private readonly hub: DeliveryHub,
    private readonly settings: StreamSettings,
    private readonly metrics?: DeliveryMetrics,
  ) {}

  /**
   * Serves one stream on `response` (headers not yet sent) until the client goes away. `since`: the
   * client's positions, or undefined for a stream that opens with a snapshot.
   */
  async open(options: {
    response: ServerResponse;
    environment: string;
    selectors: readonly string[];
    /** Identifies the principal's scopes, so groups never mix callers who may see different data. */
    scopeKey: string;
    mayRead: (namespace: string) => boolean;
    views: readonly NamespaceView[];
    since: Positions | undefined;
  }): Promise<void> {
    const { response, environment } = options;
    const groupKey = `${environment}\u0000${options.selectors.join(',')}\u0000${options.scopeKey}`;
    let group = this.groups.get(groupKey);
    if (group === undefined) {
      const created = new StreamGroup(
        environment,
        options.selectors,
        options.mayRead,
        this.settings,
        this.metrics,
      );
      created.unlisten = this.hub.listen(created);
      created.startHeartbeat();
      this.groups.set(groupKey, created);
      group = created;
    }
    group.adopt(options.views);
    const views = group.held();

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 1000\n\n');
    response.socket?.setNoDelay(true);

    const connection = new Connection(response, this.settings.maxBufferedBytes);
    group.connections.add(connection);
    this.metrics?.connections.inc({ region: this.metrics.region, kind: 'stream' });
    const thisGroup = group;
    response.on('close', () => {
      thisGroup.connections.delete(connection);
      this.metrics?.connections.dec({ region: this.metrics.region, kind: 'stream' });
      if (thisGroup.connections.size === 0 && this.groups.get(groupKey) === thisGroup) {
        thisGroup.stop();
        this.groups.delete(groupKey);
      }
    });

    const now = this.settings.clock();
    const id = () => encodePositions(positionsOf(views));
    if (options.since === undefined) {
      for (const view of views) connection.reached.set(view.namespace, view.seq);
      connection.write(snapshotFrame(environment, views, now, id(), { complete: true }));
      connection.goLive();
      return;
    }
    const since = options.since;
    const fresh = new Set<NamespaceView>();
    // Namespaces where the client stands beyond the ledger's head: the ledger was restored or reset.
    const reset = new Set<NamespaceView>();
    try {
      for (const view of views) {
        const from = since.get(view.namespace);
        if (from === undefined) {
          fresh.add(view);
          continue;
        }
        const to = view.seq;
        if (from > to && from > (await this.hub.source.head(view.namespace))) {
          reset.add(view);
          continue;
        }
        if (from >= to) {
          connection.reached.set(view.namespace, from);
          continue;
        }
        const changed = await this.hub.source.changedSince(view.namespace, environment, from, to);
        if (changed === undefined) {
          fresh.add(view);
          continue;
        }
        // Lines as they are now (at least as new as `to`); later patches stay queued.
        const lines = [...changed].map((identity) => view.line(identity) ?? `-${identity}`);
        connection.reached.set(view.namespace, to);
        connection.write(patchFrame(view.namespace, to, view.committedAt || now, lines, id()));
      }
    } catch {
      // The source could not say what changed: a snapshot of the rest is always right.
      for (const view of views) {
        if (!connection.reached.has(view.namespace) && !reset.has(view)) fresh.add(view);
      }
    }
    for (const [group, kind] of [
      [fresh, { complete: false }],
      [reset, { complete: false, reset: true }],
    ] as const) {
      if (group.size === 0) continue;
      for (const view of group) connection.reached.set(view.namespace, view.seq);
      connection.write(snapshotFrame(environment, [...group], this.settings.clock(), id(), kind));
    }
    connection.goLive();
  }

  close(): void {
    for (const group of this.groups.values()) group.stop();
    this.groups.clear();
  }
}
