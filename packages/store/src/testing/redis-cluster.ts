// A small Redis Cluster for tests, formed with `redis-cli --cluster create`, whose nodes can be killed,
// restarted and watched failing over.
import { redisCli } from './redis-cli.js';
import {
  type ClusterNodeEntry,
  clusterView,
  isFailed,
  nodeHealth,
  servesSlot,
} from './redis-cluster-nodes.js';
import {
  CLUSTER_BUS_PORT_OFFSET,
  freeClusterPorts,
  REDIS_TEST_HOST,
  type RedisAddress,
} from './redis-ports.js';
import {
  launch,
  persistenceArgs,
  type RedisServerOptions,
  type RedisServerProcess,
  removeTempDir,
  waitUntil,
} from './redis-process.js';
import { parseInfo, redisText } from './redis-protocol.js';
import { keySlot } from './redis-slots.js';

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions extends RedisServerOptions {
  /** Number of masters, at least 3 (redis-cli's minimum); default 3. */
  readonly masters?: number;
  /** Replicas for each master; default 1. */
  readonly replicasPerMaster?: number;
  /** `cluster-node-timeout` in ms; default 1000, so a failover takes a few seconds. */
  readonly nodeTimeoutMs?: number;
  /** Bound on forming the cluster after its nodes started, and on a restarted node rejoining; default 30000. */
  readonly formTimeoutMs?: number;
}

/** A node of the cluster as this harness knows it. */
export interface RedisClusterNode extends RedisAddress {
  /** Cluster node id (stable across restart(), kept in the node's nodes.conf). */
  readonly id: string;
  /** The role last observed: at formation, and refreshed by waitForFailover() and restart(); for the live
   * view after a failover, call masters(). */
  readonly role: 'master' | 'replica';
  /** Pid of the running process; undefined while killed. */
  readonly pid: number | undefined;
  readonly dir: string;
  readonly logFile: string;
}

/** A master as the cluster currently sees it. */
export interface RedisClusterMaster extends RedisAddress {
  readonly id: string;
  /** Pid of its process, or undefined if this harness killed it (the cluster may not have noticed yet). */
  readonly pid: number | undefined;
  /** Slot ranges it serves, inclusive. */
  readonly slots: ReadonlyArray<readonly [number, number]>;
  /** Its replicas, per the same view. */
  readonly replicas: readonly RedisAddress[];
}

/** What `waitForFailover` resolves with. */
export interface RedisFailover {
  /** The replica that took over the killed master's slots (undefined if the killed node was a replica). */
  readonly promoted: RedisAddress | undefined;
  /** Milliseconds from kill() until the failover was observed complete. */
  readonly elapsedMs: number;
}

/** A running cluster started by `startRedisCluster`. */
export interface RedisCluster {
  /** All nodes, in port order of creation (masters first as passed to `redis-cli --cluster create`). */
  readonly nodes: readonly RedisClusterNode[];
  /** Every node's address, for ioredis' `new Cluster(startupNodes)`. */
  readonly startupNodes: readonly RedisAddress[];
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,...` listing every node. */
  readonly url: string;
  /** The masters that serve slots, from CLUSTER NODES of a running node. Right after kill() the killed
   * master is still listed (with pid undefined) until the cluster fails it over. */
  masters(): Promise<RedisClusterMaster[]>;
  /** The master currently serving the slot of `key` (hash tags honoured), with that slot. */
  masterFor(key: string): Promise<RedisClusterMaster & { readonly slot: number }>;
  /** SIGKILLs the node on `port`, as a crash would; its dir stays for restart(). */
  kill(port: number): Promise<void>;
  /** Starts the node on `port` again with its dir and nodes.conf, and waits until it has rejoined:
   * cluster_state:ok on it and, if it is a replica (as an old master becomes after a failover), its link to
   * its master up. */
  restart(port: number): Promise<void>;
  /**
   * Waits (default 15000 ms) until the slots the node on `killedPort` served when kill() was called are
   * served by another, running master that every running node agrees on, and every running node reports
   * cluster_state:ok. For a killed replica it waits only for cluster_state:ok everywhere.
   */
  waitForFailover(killedPort: number, options?: { readonly timeoutMs?: number }): Promise<RedisFailover>;
  /** Stops every node (SIGTERM, then SIGKILL after `stopTimeoutMs`) and removes their temp dirs. Idempotent. */
  stop(): Promise<void>;
}

interface ClusterMember {
  server: RedisServerProcess;
  id: string;
  role: 'master' | 'replica';
  /** Set by kill(): when, and which slots it served then. */
  killed?: { at: number; slots: ReadonlyArray<readonly [number, number]> };
}

/**
 * Starts a Redis Cluster of `masters` masters with `replicasPerMaster` replicas each on 127.0.0.1: one
 * redis-server per node, each in its own temp dir, with cluster mode, `cluster-node-timeout` 1000 ms, AOF
 * (`appendfsync always` by default) and no RDB snapshots; forms it with `redis-cli --cluster create ...
 * --cluster-replicas N --cluster-yes`; and resolves once every node reports cluster_state:ok with all 16384
 * slots assigned and every node known, every replica's link to its master is up, and there are `masters`
 * masters with `replicasPerMaster` replicas each. Each node's port and port + 10000 (its bus) were free.
 * On any failure it stops what it started and rejects with the reason and the relevant log tail.
 * The caller must `stop()` it, typically in an `after` hook.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masterCount) || masterCount < 3)
    throw new Error('startRedisCluster: masters must be >= 3');
  if (!Number.isInteger(replicas) || replicas < 0)
    throw new Error('startRedisCluster: bad replicasPerMaster');
  const size = masterCount * (1 + replicas);
  const startTimeoutMs = options.startTimeoutMs ?? 15000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const formTimeoutMs = options.formTimeoutMs ?? 30000;
  const settings = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    String(options.nodeTimeoutMs ?? 1000),
    // Replicas sync as soon as they attach, instead of the default 5 s wait for more replicas.
    '--repl-diskless-sync-delay',
    '0',
    ...persistenceArgs(options),
    ...(options.extraArgs ?? []),
  ];

  const members: ClusterMember[] = [];
  const reserved = new Set<number>();
  const pickPort = async () => {
    const [port] = await freeClusterPorts(1, reserved);
    if (port === undefined) throw new Error('freeClusterPorts returned nothing');
    reserved.add(port);
    reserved.add(port + CLUSTER_BUS_PORT_OFFSET);
    return port;
  };
  // Replicas first: a master that gets SIGTERM while a replica lags waits for it (shutdown-timeout, 10 s).
  const stopAll = async () => {
    const replicasFirst = [
      members.filter((member) => member.role === 'replica'),
      members.filter((member) => member.role !== 'replica'),
    ];
    for (const group of replicasFirst) {
      await Promise.all(group.map((member) => member.server.terminate(stopTimeoutMs)));
    }
    await Promise.all(members.map((member) => removeTempDir(member.server.dir)));
  };

  try {
    const started = await Promise.allSettled(
      Array.from({ length: size }, () => launch('redis-cluster-', pickPort, settings, startTimeoutMs)),
    );
    for (const result of started) {
      if (result.status === 'fulfilled') members.push({ server: result.value, id: '', role: 'master' });
    }
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    const addresses = members.map((member) => `${REDIS_TEST_HOST}:${member.server.port}`);
    try {
      await redisCli(
        ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
        formTimeoutMs,
      );
    } catch (error) {
      throw new Error(`startRedisCluster: redis-cli --cluster create failed: ${(error as Error).message}`);
    }

    await waitUntil(`startRedisCluster: cluster of ${size} nodes to be ready`, formTimeoutMs, async () => {
      for (const member of members) {
        const health = await nodeHealth(member.server.port, size);
        if (health !== true) return health;
      }
      const view = await clusterView(members[0]?.server.port ?? 0);
      const masters = view.filter((entry) => entry.flags.includes('master') && entry.slots.length > 0);
      if (masters.length !== masterCount) return `${masters.length} masters with slots, want ${masterCount}`;
      for (const master of masters) {
        const count = view.filter((entry) => entry.masterId === master.id).length;
        if (count !== replicas) return `master ${master.port} has ${count} replicas, want ${replicas}`;
      }
      return true;
    });

    const view = await clusterView(members[0]?.server.port ?? 0);
    for (const member of members) {
      const entry = view.find((candidate) => candidate.port === member.server.port);
      if (!entry) throw new Error(`startRedisCluster: node ${member.server.port} missing from CLUSTER NODES`);
      member.id = entry.id;
      member.role = entry.flags.includes('master') ? 'master' : 'replica';
    }
  } catch (error) {
    const logs = await Promise.all(members.map((member) => member.server.diagnostics()));
    await stopAll();
    const message = (error as Error).message;
    const wrapped = new Error(
      message.includes('--- ') ? message : `${message}\n${logs.slice(0, size).join('\n')}`.slice(0, 20000),
    );
    throw wrapped;
  }

  const byPort = (port: number): ClusterMember => {
    const member = members.find((candidate) => candidate.server.port === port);
    if (!member) throw new Error(`no node of this cluster listens on ${port}`);
    return member;
  };
  const pidOf = (port: number) => members.find((member) => member.server.port === port)?.server.pid;

  /** CLUSTER NODES from the first running node that answers. */
  const liveView = async (): Promise<ClusterNodeEntry[]> => {
    let lastError: unknown;
    for (const member of members) {
      if (!member.server.running) continue;
      try {
        return await clusterView(member.server.port);
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no running cluster node answered CLUSTER NODES (${String(lastError)})`);
  };
  const toMaster = (entry: ClusterNodeEntry, view: readonly ClusterNodeEntry[]): RedisClusterMaster => ({
    host: entry.host,
    port: entry.port,
    id: entry.id,
    pid: pidOf(entry.port),
    slots: entry.slots,
    replicas: view
      .filter((candidate) => candidate.masterId === entry.id)
      .map((replica) => ({ host: replica.host, port: replica.port })),
  });
  const refreshRoles = async () => {
    const view = await liveView();
    for (const member of members) {
      const entry = view.find((candidate) => candidate.id === member.id);
      if (entry) member.role = entry.flags.includes('master') ? 'master' : 'replica';
    }
  };

  let stopped = false;
  return {
    get nodes() {
      return members.map((member) => ({
        host: REDIS_TEST_HOST,
        port: member.server.port,
        id: member.id,
        role: member.role,
        pid: member.server.pid,
        dir: member.server.dir,
        logFile: member.server.logFile,
      }));
    },
    startupNodes: members.map((member) => ({ host: REDIS_TEST_HOST, port: member.server.port })),
    url: `redis-cluster://${members.map((member) => `${REDIS_TEST_HOST}:${member.server.port}`).join(',')}`,

    async masters() {
      const view = await liveView();
      return view
        .filter((entry) => entry.flags.includes('master') && entry.slots.length > 0)
        .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0))
        .map((entry) => toMaster(entry, view));
    },

    async masterFor(key) {
      const slot = keySlot(key);
      const view = await liveView();
      const owner = view.find(
        (entry) => entry.flags.includes('master') && !entry.flags.includes('fail') && servesSlot(entry, slot),
      );
      if (!owner) throw new Error(`masterFor(${JSON.stringify(key)}): no master serves slot ${slot}`);
      return { ...toMaster(owner, view), slot };
    },

    async kill(port) {
      const member = byPort(port);
      if (!member.server.running) throw new Error(`kill(${port}): that node is not running`);
      let slots: ReadonlyArray<readonly [number, number]> = [];
      try {
        const self = (await clusterView(port)).find((entry) => entry.flags.includes('myself'));
        slots = self?.flags.includes('master') ? self.slots : [];
      } catch {
        // Unresponsive: use the view of the others.
        slots = (await liveView()).find((entry) => entry.id === member.id)?.slots ?? [];
      }
      await member.server.kill();
      member.killed = { at: Date.now(), slots };
    },

    async restart(port) {
      const member = byPort(port);
      if (stopped) throw new Error('restart: the cluster was stopped');
      if (member.server.running) throw new Error(`restart(${port}): that node is still running`);
      await member.server.start(startTimeoutMs);
      try {
        await waitUntil(`restart(${port}): node to rejoin the cluster`, formTimeoutMs, async () => {
          const own = (await clusterView(port)).find((entry) => entry.flags.includes('myself'));
          if (!own) return `node ${port}: no myself entry in CLUSTER NODES`;
          const ownRole = own.flags.includes('master') ? 'master' : 'replica';
          // Its own view must match every other running node's view of it: an old master first comes back
          // believing it still serves its slots, and only turns into a replica once it hears of the failover.
          for (const other of members) {
            if (other === member || !other.server.running) continue;
            const seen = (await clusterView(other.server.port)).find((entry) => entry.id === member.id);
            if (!seen) return `node ${other.server.port} does not know ${port}`;
            const bad = seen.flags.filter((flag) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag));
            if (bad.length > 0) return `node ${other.server.port} sees ${port} as ${bad.join(',')}`;
            const seenRole = seen.flags.includes('master') ? 'master' : 'replica';
            if (seenRole !== ownRole)
              return `node ${port} is a ${ownRole}, node ${other.server.port} says ${seenRole}`;
            if (JSON.stringify(seen.slots) !== JSON.stringify(own.slots) || seen.masterId !== own.masterId) {
              return `node ${port} and node ${other.server.port} disagree on its slots or master`;
            }
          }
          return nodeHealth(port, size);
        });
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${await member.server.diagnostics()}`);
      }
      member.killed = undefined;
      await refreshRoles();
    },

    async waitForFailover(killedPort, waitOptions = {}) {
      const member = byPort(killedPort);
      const killed = member.killed;
      if (!killed) throw new Error(`waitForFailover(${killedPort}): kill(${killedPort}) was not called`);
      const timeoutMs = waitOptions.timeoutMs ?? 15000;
      const slot = killed.slots[0]?.[0];
      let promoted: RedisAddress | undefined;
      try {
        await waitUntil(`waitForFailover(${killedPort})`, timeoutMs, async () => {
          let owner: string | undefined;
          for (const survivor of members) {
            if (!survivor.server.running) continue;
            const port = survivor.server.port;
            const info = parseInfo(await redisText(port, ['CLUSTER', 'INFO'], { timeoutMs: 2000 }));
            if (info.get('cluster_state') !== 'ok')
              return `node ${port}: cluster_state:${info.get('cluster_state')}`;
            if (slot === undefined) continue;
            const view = await clusterView(port);
            for (const [from, to] of killed.slots) {
              for (let s = from; s <= to; s++) {
                const holder = view.find((entry) => entry.flags.includes('master') && servesSlot(entry, s));
                if (!holder) return `node ${port}: slot ${s} unassigned`;
                if (holder.id === member.id || isFailed(holder) || pidOf(holder.port) === undefined) {
                  return `node ${port}: slot ${s} still on ${holder.port}`;
                }
                if (owner !== undefined && owner !== holder.id)
                  return "the killed master's slots are split or disputed";
                owner = holder.id;
                promoted = { host: holder.host, port: holder.port };
              }
            }
          }
          return true;
        });
      } catch (error) {
        const survivors = members.filter((candidate) => candidate.server.running);
        const logs = await Promise.all(
          survivors.slice(0, 3).map((survivor) => survivor.server.diagnostics()),
        );
        throw new Error(`${(error as Error).message}\n${logs.join('\n')}`);
      }
      const elapsedMs = Date.now() - killed.at;
      await refreshRoles();
      return { promoted, elapsedMs };
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      await refreshRoles().catch(() => {});
      await stopAll();
    },
  };
}
