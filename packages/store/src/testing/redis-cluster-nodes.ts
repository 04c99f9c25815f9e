// A cluster's state as its nodes report it: CLUSTER NODES parsed, and whether a node is a healthy member.
import type { RedisAddress } from './redis-ports.js';
import { parseInfo, redisText } from './redis-protocol.js';
import { CLUSTER_SLOTS } from './redis-slots.js';

/** One line of CLUSTER NODES. */
export interface ClusterNodeEntry extends RedisAddress {
  readonly id: string;
  /** e.g. ['myself', 'master'], ['slave'], ['master', 'fail?'], ['master', 'fail']. */
  readonly flags: readonly string[];
  /** The master's id for a replica; undefined for a master. */
  readonly masterId: string | undefined;
  readonly linkState: string;
  /** Slot ranges served, inclusive. */
  readonly slots: ReadonlyArray<readonly [number, number]>;
}

/** Parses CLUSTER NODES output (slot migration entries like `[5->-id]` are left out of `slots`). */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  const entries: ClusterNodeEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id = '', address = '', flags = '', master = '-', , , , linkState = '', ...slotFields] = fields;
    const hostPort = address.split(',')[0]?.split('@')[0] ?? '';
    const colon = hostPort.lastIndexOf(':');
    const slots: Array<readonly [number, number]> = [];
    for (const field of slotFields) {
      if (field.startsWith('[')) continue;
      const [from, to] = field.split('-');
      const start = Number(from);
      const end = to === undefined ? start : Number(to);
      if (Number.isInteger(start) && Number.isInteger(end)) slots.push([start, end]);
    }
    entries.push({
      id,
      host: hostPort.slice(0, colon),
      port: Number(hostPort.slice(colon + 1)),
      flags: flags.split(','),
      masterId: master === '-' ? undefined : master,
      linkState,
      slots,
    });
  }
  return entries;
}

/** Whether `entry` serves `slot`. */
export const servesSlot = (entry: ClusterNodeEntry, slot: number) =>
  entry.slots.some(([from, to]) => slot >= from && slot <= to);
/** Whether `entry` is flagged as failing (`fail`) or suspected to (`fail?`). */
export const isFailed = (entry: ClusterNodeEntry) =>
  entry.flags.includes('fail') || entry.flags.includes('fail?');

/** CLUSTER NODES as the node on `port` sees it. */
export async function clusterView(port: number): Promise<ClusterNodeEntry[]> {
  return parseClusterNodes(await redisText(port, ['CLUSTER', 'NODES'], { timeoutMs: 2000 }));
}

/** Why the node on `port` is not (yet) a healthy member of a cluster of `size` nodes; true if it is. */
export async function nodeHealth(port: number, size: number): Promise<true | string> {
  const info = parseInfo(await redisText(port, ['CLUSTER', 'INFO'], { timeoutMs: 2000 }));
  if (info.get('cluster_state') !== 'ok') return `node ${port}: cluster_state:${info.get('cluster_state')}`;
  if (info.get('cluster_slots_assigned') !== String(CLUSTER_SLOTS)) {
    return `node ${port}: cluster_slots_assigned:${info.get('cluster_slots_assigned')}`;
  }
  if (info.get('cluster_known_nodes') !== String(size)) {
    return `node ${port}: cluster_known_nodes:${info.get('cluster_known_nodes')} of ${size}`;
  }
  const replication = parseInfo(await redisText(port, ['INFO', 'replication'], { timeoutMs: 2000 }));
  if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up') {
    return `node ${port}: replica with master_link_status:${replication.get('master_link_status')}`;
  }
  // A replica rewrites its AOF after a full sync; until that is done it would refuse a SIGTERM.
  const busy = await persistenceBusy(port);
  return busy === undefined ? true : `node ${port}: ${busy}`;
}

/**
 * What the node on `port` is doing on disk, as `field:value` of INFO persistence: loading its dataset, or
 * rewriting its AOF (or about to); undefined when none of these.
 */
export async function persistenceBusy(port: number): Promise<string | undefined> {
  const persistence = parseInfo(await redisText(port, ['INFO', 'persistence'], { timeoutMs: 2000 }));
  for (const field of ['loading', 'aof_rewrite_in_progress', 'aof_rewrite_scheduled']) {
    const value = persistence.get(field);
    if (value !== undefined && value !== '0') return `${field}:${value}`;
  }
  return undefined;
}
