/**
 * The stream: Server-Sent Events to SDKs and relays. Connections that asked for the same environment
 * and namespaces form a group, which builds each frame once and writes it to all of them.
 *
 * A connection that resumes first catches up (a patch per namespace with what changed since its
 * position, or a snapshot of the namespace), while the live patches that arrive meanwhile wait in its
 * queue; those its catch-up already covers are dropped, so nothing is missed and nothing goes back.
 *
 * Limits: streams per key and in all (429 and 503 beyond, before a stream opens); bytes left unsent per
 * stream and across all of them (a stream over either is closed: it reconnects and resumes). Keys are
 * checked again every `keyCheckMs`, once per key however many streams it has open: the streams of a key
 * that was revoked or expired meanwhile are ended.
 */
import type { ServerResponse } from 'node:http';
import { HttpProblem } from '../problems.js';
import { heartbeatFrame, patchFrame, positionsOf, snapshotFrame } from './frames.js';
import type { DeliveryHub, HubListener } from './hub.js';
import type { DeliveryMetrics } from './metrics.js';
import { encodePositions, type Positions, selectedBy } from './positions.js';
import { type NamespaceView, withoutSensitive } from './view.js';

export interface StreamSettings {
  heartbeatMs: number;
  /** A connection whose unsent bytes exceed this is closed (it reconnects and resumes). */
  maxBufferedBytes: number;
  /** Unsent bytes across all connections beyond which the connection adding to them is closed. */
  maxTotalBufferedBytes: number;
  /** Streams one key may have open at once (429 beyond). */
  maxStreamsPerKey: number;
  /** Streams open at once in all (503 beyond). */
  maxStreams: number;
  /** Milliseconds between checks that the keys of open streams are still valid. */
  keyCheckMs: number;
  /**
   * Checks a key again, past any cache: resolves when it is still valid, rejects with an `HttpProblem`
   * of status 401 when it was revoked or expired (its streams are ended); other failures change nothing.
   */
  checkKey: (credentials: string | undefined) => Promise<unknown>;
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

/** What a client refused a stream (too many open) is told to wait before trying again. */
const RETRY_AFTER_SECONDS = '5';

/** Unsent bytes across connections, shared by all of a `Streams`. */
interface Backlog {
  bytes: number;
  readonly max: number;
}

class Connection {
  /** Live frames held while the connection catches up; undefined once it is live. */
  queue: Queued[] | undefined = [];
  /** Per namespace, the position its catch-up reached. */
  readonly reached = new Map<string, number>();
  /** Frames not yet handed to the socket, in order; each a string or the parts of one. */
  private readonly pending: Iterator<string>[] = [];
  private blocked = false;
  /**
   * Bytes of whole frames (strings) queued or pending and not yet handed to the socket. The parts of a
   * snapshot are made as the socket drains, so they count once handed (in `writableLength`).
   */
  private held = 0;
  private closed = false;

  constructor(
    readonly response: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly backlog: Backlog,
  ) {
    response.once('close', () => {
      this.release(this.held);
      this.closed = true;
    });
  }

  /**
   * Counts a frame's bytes as held, unless the connection is already over its limit (or the limit of all,
   * while it holds some): then it is closed, and reconnects and resumes. What it held before the frame
   * is what counts, so a connection that keeps up takes a frame of any size.
   */
  private hold(bytes: number): boolean {
    const unsent = this.held + this.response.writableLength;
    if (unsent > this.maxBufferedBytes || (unsent > 0 && this.backlog.bytes > this.backlog.max)) {
      this.response.destroy();
      return false;
    }
    this.held += bytes;
    this.backlog.bytes += bytes;
    return true;
  }

  private release(bytes: number): void {
    if (this.closed) return;
    this.held -= bytes;
    this.backlog.bytes -= bytes;
  }

  send(namespace: string, seq: number, frame: string): void {
    if (this.queue === undefined) this.write(frame);
    else if (!this.response.destroyed && this.hold(frame.length)) this.queue.push({ namespace, seq, frame });
  }

  /**
   * Writes a frame after those before it. Parts are handed to the socket while it accepts them and
   * then as it drains, so a large snapshot never sits whole in memory.
   */
  write(frame: string | Iterable<string>, queued = false): void {
    if (this.response.destroyed) return;
    if (typeof frame === 'string') {
      // A frame from the queue was counted when it was queued.
      if (!queued && !this.hold(frame.length)) return;
      this.pending.push(new CountedFrame(frame));
    } else this.pending.push(frame[Symbol.iterator]());
    if (this.pending.length > MAX_PENDING_FRAMES) {
      this.response.destroy();
      return;
    }
    if (!this.blocked) this.pump();
  }

  private pump(): void {
    while (this.pending.length > 0 && !this.response.destroyed) {
      const frame = this.pending[0]!;
      const next = frame.next();
      if (next.done) {
        this.pending.shift();
        continue;
      }
      if (frame instanceof CountedFrame) this.release(next.value.length);
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
      if (item.seq > (this.reached.get(item.namespace) ?? 0)) this.write(item.frame, true);
      else this.release(item.frame.length);
    }
  }
}

/**
 * Ends a stream: after what was written, unless the client stopped reading (then at once). Its
 * connection closes with it: a stream's connection is never reused, and left open for keep-alive it would
 * outlive the stream by the keep-alive timeout (a revoked key's connection must close within seconds).
 */
function finish(response: ServerResponse): void {
  if (response.writableNeedDrain) {
    response.destroy();
    return;
  }
  // The socket is taken now: once the response has finished, it is no longer the response's.
  const socket = response.socket;
  response.end(() => socket?.destroySoon());
}

/** A whole frame, handed to the socket at once; its bytes were counted as held. */
class CountedFrame implements Iterator<string> {
  private done = false;

  constructor(private readonly frame: string) {}

  next(): IteratorResult<string> {
    if (this.done) return { done: true, value: undefined };
    this.done = true;
    return { done: false, value: this.frame };
  }
}

class StreamGroup implements HubListener {
  readonly connections = new Set<Connection>();
  private readonly views = new Map<string, NamespaceView>();
  private heartbeat: NodeJS.Timeout | undefined;
  unlisten: () => void = () => {};

  constructor(
    private readonly hub: DeliveryHub,
    readonly environment: string,
    private readonly selectors: readonly string[],
    private readonly mayRead: (namespace: string) => boolean,
    /** Whether its callers may receive sensitive values (else those flags are left out). */
    private readonly withSensitive: boolean,
    private readonly settings: StreamSettings,
    private readonly metrics: DeliveryMetrics | undefined,
  ) {}

  /** Holds a view, pinned in the hub while the group lives (so that it stays loaded and current). */
  private hold(view: NamespaceView): void {
    if (!this.views.has(view.namespace)) this.hub.pin(this.environment, view.namespace);
    this.views.set(view.namespace, view);
  }

  adopt(views: readonly NamespaceView[]): void {
    for (const view of views) if (!this.views.has(view.namespace)) this.hold(view);
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
    const shown = this.withSensitive ? lines : withoutSensitive(lines);
    const frame = patchFrame(view.namespace, seq, committedAt, shown, this.id());
    for (const connection of this.connections) connection.send(view.namespace, seq, frame);
    this.metrics?.patchesSent.inc({ region: this.metrics.region }, this.connections.size);
  }

  replaced(view: NamespaceView, reset = false): void {
    this.hold(view);
    if (this.connections.size === 0) return;
    const now = this.settings.clock();
    const id = this.id();
    // perf: the frame is encoded once for the whole group; a lone connection takes it part by part as
    // it drains, several share the parts (each reads them with its own iterator).
    const frame = snapshotFrame(
      this.environment,
      [view],
      now,
      id,
      { complete: false, reset },
      this.withSensitive,
    );
    const parts: Iterable<string> = this.connections.size === 1 ? frame : [...frame];
    let joined: string | undefined;
    for (const connection of this.connections) {
      connection.reached.set(view.namespace, view.seq);
      // A connection still catching up gets it after its catch-up, in order, like any queued frame.
      if (connection.queue !== undefined) {
        joined ??= [...parts].join('');
        connection.send(view.namespace, Number.POSITIVE_INFINITY, joined);
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
    for (const namespace of this.views.keys()) this.hub.unpin(this.environment, namespace);
    for (const connection of this.connections) finish(connection.response);
  }
}

/** The open streams of one key, and the credentials to check it again with. */
interface KeyStreams {
  credentials: string | undefined;
  connections: Set<Connection>;
}

export class Streams {
  private readonly groups = new Map<string, StreamGroup>();
  private readonly keys = new Map<string, KeyStreams>();
  private readonly backlog: Backlog;
  private streamCount = 0;
  private keyCheck: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly hub: DeliveryHub,
    private readonly settings: StreamSettings,
    private readonly metrics?: DeliveryMetrics,
  ) {
    this.backlog = { bytes: 0, max: settings.maxTotalBufferedBytes };
  }

  /**
   * Refuses a new stream of this key when the key (429) or the server (503) has as many open as allowed.
   * Call it right before `open`, with no await in between, so that no other stream opens meanwhile.
   */
  admit(tokenId: string): void {
    const retryAfter = { 'retry-after': RETRY_AFTER_SECONDS };
    if ((this.keys.get(tokenId)?.connections.size ?? 0) >= this.settings.maxStreamsPerKey) {
      throw new HttpProblem(
        429,
        'Too Many Requests',
        `this key has ${this.settings.maxStreamsPerKey} streams open, as many as one key may; close one, or share one stream per process`,
        {},
        retryAfter,
      );
    }
    if (this.streamCount >= this.settings.maxStreams) {
      throw new HttpProblem(
        503,
        'Service Unavailable',
        `this server has ${this.settings.maxStreams} streams open, as many as it serves; retry later or use a relay`,
        {},
        retryAfter,
      );
    }
  }

  private track(tokenId: string, credentials: string | undefined, connection: Connection): void {
    let entry = this.keys.get(tokenId);
    if (entry === undefined) {
      entry = { credentials, connections: new Set() };
      this.keys.set(tokenId, entry);
    }
    entry.connections.add(connection);
    this.streamCount++;
    if (this.keyCheck === undefined) {
      this.keyCheck = setInterval(() => void this.checkKeys(), this.settings.keyCheckMs);
      this.keyCheck.unref();
    }
    connection.response.once('close', () => {
      this.streamCount--;
      entry.connections.delete(connection);
      if (entry.connections.size === 0 && this.keys.get(tokenId) === entry) this.keys.delete(tokenId);
      if (this.keys.size === 0) {
        clearInterval(this.keyCheck);
        this.keyCheck = undefined;
      }
    });
  }

  /** Checks each key with open streams once, and ends the streams of those no longer valid. */
  private async checkKeys(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const [tokenId, entry] of [...this.keys]) {
        try {
          await this.settings.checkKey(entry.credentials);
        } catch (error) {
          if (!(error instanceof HttpProblem) || error.status !== 401) continue;
          if (this.keys.get(tokenId) === entry) this.keys.delete(tokenId);
          for (const connection of entry.connections) finish(connection.response);
        }
      }
    } finally {
      this.checking = false;
    }
  }

  /**
   * Serves one stream on `response` (headers not yet sent) until the client goes away. `since`: the
   * client's positions, or undefined for a stream that opens with a snapshot.
   */
  async open(options: {
    response: ServerResponse;
    /** The key's id (streams are counted and checked per key) and the credentials it came with. */
    tokenId: string;
    credentials: string | undefined;
    environment: string;
    selectors: readonly string[];
    /** Identifies the principal's scopes, so groups never mix callers who may see different data. */
    scopeKey: string;
    mayRead: (namespace: string) => boolean;
    /** Whether the caller may receive sensitive values (else those flags are left out). */
    withSensitive: boolean;
    views: readonly NamespaceView[];
    since: Positions | undefined;
  }): Promise<void> {
    const { response, environment } = options;
    const { withSensitive } = options;
    const groupKey = `${environment}\u0000${options.selectors.join(',')}\u0000${options.scopeKey}\u0000${withSensitive}`;
    let group = this.groups.get(groupKey);
    if (group === undefined) {
      const created = new StreamGroup(
        this.hub,
        environment,
        options.selectors,
        options.mayRead,
        withSensitive,
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

    const connection = new Connection(response, this.settings.maxBufferedBytes, this.backlog);
    this.track(options.tokenId, options.credentials, connection);
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
      connection.write(snapshotFrame(environment, views, now, id(), { complete: true }, withSensitive));
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
        const shown = withSensitive ? lines : withoutSensitive(lines);
        connection.reached.set(view.namespace, to);
        connection.write(patchFrame(view.namespace, to, view.committedAt || now, shown, id()));
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
      connection.write(
        snapshotFrame(environment, [...group], this.settings.clock(), id(), kind, withSensitive),
      );
    }
    connection.goLive();
  }

  close(): void {
    clearInterval(this.keyCheck);
    this.keyCheck = undefined;
    for (const group of this.groups.values()) group.stop();
    this.groups.clear();
  }
}
