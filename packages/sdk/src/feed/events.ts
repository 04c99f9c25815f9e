/**
 * What an `UpstreamFeed` hands out, and the reading of the stream's event bodies (spec/protocol.md,
 * "The stream").
 */
import { names, readHeader, type SnapshotHeader } from '@switchyard/core';
import { type Positions, positionsOfHeader } from './positions.js';
import { namespaceOf, parseRecordLine, type RecordChange } from './records.js';

/** A snapshot: the whole selection (from GET /sdk/v1/snapshot) or some namespaces (a stream `snapshot`). */
export interface SnapshotEvent {
  /** The body as received, in the core's snapshot format (`FlagEngine.fromSnapshot` reads it). */
  readonly bytes: Buffer;
  readonly header: SnapshotHeader;
  /** Where its record lines start in `bytes`: just after the header line. */
  readonly bodyStart: number;
  /** The positions of its header. */
  readonly positions: Positions;
  /**
   * The namespaces of the header whose data this snapshot replaces: every one, except those where the
   * feed already holds a later position (their records in this snapshot must be ignored).
   */
  readonly namespaces: readonly string[];
  /**
   * True when it covers the whole selection: data held for namespaces absent from its header is to be
   * dropped. False for a stream `snapshot` resetting some namespaces, which leaves the others as they are.
   */
  readonly complete: boolean;
  readonly source: 'poll' | 'stream';
}

/** A patch, to apply in full: it is delivered only when its `seq` is ahead of the position held. */
export interface PatchEvent {
  readonly namespace: string;
  /** The last ledger event it reflects; the namespace's position after it. */
  readonly seq: number;
  /** ISO time of its commit. */
  readonly time: string;
  /** Epoch ms of the earliest commit it carries: propagation lag is measured from it. */
  readonly committedAt: number;
  /** Its record lines, in order: put (the full record) or remove. */
  readonly changes: readonly RecordChange[];
  /** The event's body as received (header line, then record lines), for a relay to pass on. */
  readonly body: string;
  /** Epoch ms at which the feed received it. */
  readonly receivedAt: number;
}

export interface HeartbeatEvent {
  readonly time: string;
  /** The upstream's positions. */
  readonly positions: Positions;
  /** True when the upstream is a relay that lost its own upstream and serves its last known data. */
  readonly stale: boolean;
  /** How long that relay has been stale, when it is. */
  readonly staleSeconds: number | undefined;
}

/**
 * `connecting` before the first answer and on each new attempt, `streaming` while a stream is open,
 * `polling` while polls succeed, `disconnected` after a failure (with the error and the wait before the
 * next attempt), `closed` after `close()`.
 */
export type ConnectionState = 'connecting' | 'streaming' | 'polling' | 'disconnected' | 'closed';

export interface StateEvent {
  readonly state: ConnectionState;
  readonly error?: UpstreamError;
  /** In `disconnected`: milliseconds until the next attempt. */
  readonly retryInMs?: number;
}

export interface UpstreamFeedEvents extends Record<string, unknown> {
  snapshot: SnapshotEvent;
  patch: PatchEvent;
  heartbeat: HeartbeatEvent;
  state: StateEvent;
}

/** `error` as it is when an `UpstreamError`, else wrapped in one whose message starts with `what`. */
export function asUpstreamError(error: unknown, what: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  return new UpstreamError(`${what}: ${(error as Error)?.message ?? String(error)}`, undefined, undefined, {
    cause: error,
  });
}

/** Why an attempt failed: an HTTP status, a network error, bad data, or a listener that threw. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const isNamespace = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= names.NAMESPACE.maxLength && names.NAMESPACE.regex.test(value);

/**
 * A snapshot's header, checked: the snapshot format, the environment `expected` (when the feed knows
 * it), and positions that are namespaces with sequence numbers. Throws `UpstreamError` otherwise, so
 * that a snapshot of another environment, or one whose header cannot say what it covers, never
 * replaces data (a `complete` snapshot with an unreadable `namespaces` would drop everything held).
 */
export function readSnapshotHeader(
  bytes: Buffer,
  expected: string | undefined,
): { header: SnapshotHeader; bodyStart: number; positions: Positions } {
  let read: { header: SnapshotHeader; bodyStart: number };
  try {
    read = readHeader(bytes);
  } catch (error) {
    throw asUpstreamError(error, 'bad snapshot');
  }
  const { header } = read;
  if (expected !== undefined && header.environment !== expected) {
    throw new UpstreamError(
      `the upstream sent a snapshot of environment "${header.environment.slice(0, 64)}", not "${expected}"`,
    );
  }
  const given = header.namespaces;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new UpstreamError('bad snapshot header: "namespaces" is not an object of positions');
  }
  for (const [namespace, seq] of Object.entries(given)) {
    if (!isNamespace(namespace) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      throw new UpstreamError(
        `bad snapshot header: ${JSON.stringify(namespace).slice(0, 200)} is not a namespace with a position`,
      );
    }
  }
  return { ...read, positions: positionsOfHeader(header) };
}

/**
 * A patch event's body: its header line, then its record lines, every one of the patch's namespace.
 * Throws `UpstreamError` when malformed.
 */
export function parsePatch(body: string): PatchEvent {
  const newline = body.indexOf('\n');
  const first = newline === -1 ? body : body.slice(0, newline);
  let meta: { namespace?: unknown; seq?: unknown; time?: unknown; committedAt?: unknown };
  try {
    meta = JSON.parse(first);
  } catch {
    throw new UpstreamError(`bad patch header: ${first.slice(0, 200)}`);
  }
  const { namespace, seq } = meta;
  if (!isNamespace(namespace) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new UpstreamError(`bad patch header: ${first.slice(0, 200)}`);
  }
  const changes: RecordChange[] = [];
  if (newline !== -1) {
    for (const line of body.slice(newline + 1).split('\n')) {
      if (line === '') continue;
      const change = parseRecordLine(line);
      if (change === undefined || namespaceOf(change.key) !== namespace) {
        throw new UpstreamError(`bad patch line for namespace ${namespace}: ${line.slice(0, 200)}`);
      }
      changes.push(change);
    }
  }
  return {
    namespace,
    seq,
    time: typeof meta.time === 'string' ? meta.time : '',
    committedAt: typeof meta.committedAt === 'number' ? meta.committedAt : Number.NaN,
    changes,
    body,
    receivedAt: Date.now(),
  };
}

/** A heartbeat event's body. Throws `UpstreamError` when it is not JSON. */
export function parseHeartbeat(body: string): HeartbeatEvent {
  let beat: { time?: unknown; namespaces?: unknown; stale?: unknown; staleSeconds?: unknown };
  try {
    beat = JSON.parse(body);
  } catch {
    throw new UpstreamError(`bad heartbeat: ${body.slice(0, 200)}`);
  }
  return {
    time: typeof beat.time === 'string' ? beat.time : '',
    positions: positionsOfHeader(beat),
    stale: beat.stale === true,
    staleSeconds: typeof beat.staleSeconds === 'number' ? beat.staleSeconds : undefined,
  };
}

/** The error of a response other than 200 (or 304), with its problem detail and `Retry-After`. */
export async function httpError(response: Response, what: string): Promise<UpstreamError> {
  let detail = '';
  try {
    const text = await response.text();
    const problem = JSON.parse(text) as { detail?: unknown };
    detail = typeof problem.detail === 'string' ? `: ${problem.detail}` : '';
  } catch {}
  const after = response.headers.get('retry-after');
  const seconds = after === null ? Number.NaN : Number(after);
  return new UpstreamError(
    `the ${what} request answered ${response.status}${detail}`,
    response.status,
    Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined,
  );
}
