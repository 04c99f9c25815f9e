// Real Redis servers for tests: a standalone server and a small Redis Cluster, each made of `redis-server`
// processes on loopback ports picked here, in temp dirs, stopped and removed when the test is done.
//
// Needs Debian's `redis-server` and `redis-cli` on PATH (`node scripts/ensure-deps.mjs` installs them).
// Servers listen on 127.0.0.1 only and never on 6379. Every process started here is tracked: `stop()` ends
// it; if the test process exits without stopping it (an uncaught exception, process.exit), an 'exit' hook
// SIGKILLs it; and if the test process dies by a signal, even SIGKILL, a small watchdog process (awk reading
// a pipe from this process) sees the pipe close and SIGKILLs what is left and removes the temp dirs.
//
// The module talks to the servers with a minimal RESP client of its own (`redisCommand`), so it does not
// depend on a Redis client library; `redis-cli` is used for `--cluster create` and offered to tests
// (`redisCli`).
//
// This is the module tests import; the code lives in the modules it re-exports from:
//   redis-ports.ts          the loopback host, and free ports for servers and cluster nodes
//   redis-protocol.ts       the RESP client (`redisCommand`, `redisText`) and INFO parsing
//   redis-cli.ts            the `redis-cli` wrapper
//   redis-slots.ts          CRC16 and cluster hash slots of keys
//   redis-process.ts        one redis-server process: launch, tracking, cleanup on exit, the watchdog
//   redis-standalone.ts     `startRedisStandalone`
//   redis-cluster-nodes.ts  CLUSTER NODES parsing, node health, and disk work under way (`persistenceBusy`)
//   redis-cluster.ts        `startRedisCluster`
export { type RedisCliResult, redisCli } from './redis-cli.js';
export {
  type RedisCluster,
  type RedisClusterMaster,
  type RedisClusterNode,
  type RedisClusterOptions,
  type RedisFailover,
  startRedisCluster,
} from './redis-cluster.js';
export { type ClusterNodeEntry, parseClusterNodes, persistenceBusy } from './redis-cluster-nodes.js';
export {
  CLUSTER_BUS_PORT_OFFSET,
  freeClusterPorts,
  freePort,
  isPortFree,
  REDIS_TEST_HOST,
  type RedisAddress,
} from './redis-ports.js';
export { type RedisServerOptions, trackedRedisPids } from './redis-process.js';
export {
  parseInfo,
  type RedisCommandOptions,
  type RedisReply,
  RedisReplyError,
  redisCommand,
  redisText,
} from './redis-protocol.js';
export { CLUSTER_SLOTS, crc16, keySlot } from './redis-slots.js';
export {
  type RedisStandalone,
  type RedisStandaloneOptions,
  startRedisStandalone,
} from './redis-standalone.js';
