/**
 * The bytes of the delivery protocol (spec/protocol.md): snapshot headers and bodies, and the
 * Server-Sent Events frames of the stream.
 */
import { createHash } from 'node:crypto';
import { SNAPSHOT_MAGIC } from '@switchyard/core';
import { encodePositions } from './positions.js';
import type { NamespaceView } from './view.js';

/** Ids longer than this go only on snapshot and heartbeat events. */
const MAX_ID_ON_PATCH = 512;

export function positionsOf(views: Iterable<NamespaceView>): [string, number][] {
  const out: [string, number][] = [];
  for (const view of views) out.push([view.namespace, view.seq]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * `complete`: the snapshot covers the whole selection (namespaces absent from it have left the
 * selection). `reset`: its namespaces are to be replaced even where a client holds a later position
 * (the ledger it came from was restored or reset).
 */
export interface SnapshotKind {
  complete: boolean;
  reset?: boolean;
}

export function snapshotHeader(
  environment: string,
  views: Iterable<NamespaceView>,
  now: number,
  kind: SnapshotKind,
): string {
  const namespaces: Record<string, number> = {};
  for (const [namespace, seq] of positionsOf(views)) namespaces[namespace] = seq;
  return `${SNAPSHOT_MAGIC}${JSON.stringify({
    environment,
    namespaces,
    time: new Date(now).toISOString(),
    complete: kind.complete,
    ...(kind.reset ? { reset: true } : {}),
  })}`;
}

/** A strong ETag for data at these positions: the same positions hold the same data. */
export function etagOf(environment: string, views: Iterable<NamespaceView>, extra = ''): string {
  const hash = createHash('sha256')
    .update(`${environment}\n${encodePositions(positionsOf(views))}\n${extra}`)
    .digest('base64url')
    .slice(0, 27);
  return `"${hash}"`;
}

export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === etag || t === `W/${etag}` || t === '*';
  });
}

/** A chunk of lines (each ending in `\n`) as SSE data lines. */
function dataLines(chunk: Buffer): string {
  if (chunk.length === 0) return '';
  return `data: ${chunk.toString('utf8', 0, chunk.length - 1).replaceAll('\n', '\ndata: ')}\n`;
}

function idLine(id: string, always: boolean): string {
  return always || id.length <= MAX_ID_ON_PATCH ? `id: ${id}\n` : '';
}

/**
 * A snapshot as an SSE event, a part at a time (a chunk of lines each), so that a large one is written
 * as the connection drains rather than built whole in memory.
 */
export function* snapshotFrame(
  environment: string,
  views: readonly NamespaceView[],
  now: number,
  id: string,
  kind: SnapshotKind,
  withSensitive = true,
): Generator<string> {
  yield `event: snapshot\n${idLine(id, true)}data: ${snapshotHeader(environment, views, now, kind)}\n`;
  for (const view of views) {
    for (const chunk of view.body(withSensitive)) {
      if (chunk.length > 0) yield dataLines(chunk);
    }
  }
  yield '\n';
}

export function patchFrame(
  namespace: string,
  seq: number,
  committedAt: number,
  lines: readonly string[],
  id: string,
): string {
  const head = JSON.stringify({
    namespace,
    seq,
    time: new Date(committedAt).toISOString(),
    committedAt,
  });
  let frame = `event: patch\n${idLine(id, false)}data: ${head}\n`;
  for (const line of lines) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

export function heartbeatFrame(
  id: string,
  now: number,
  positions: [string, number][],
  health: { stale: boolean; staleSeconds: number },
): string {
  const body = JSON.stringify({
    time: new Date(now).toISOString(),
    namespaces: Object.fromEntries(positions),
    ...(health.stale ? { stale: true, staleSeconds: health.staleSeconds } : {}),
  });
  return `event: heartbeat\n${idLine(id, true)}data: ${body}\n\n`;
}
