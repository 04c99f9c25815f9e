import { after } from 'node:test';
import { runConformanceSuite } from '../conformance/suite.js';
import { startRedisCluster, startRedisStandalone } from '../testing/redis-servers.js';
import { RedisAdapter } from './redis.js';

const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

runConformanceSuite({
  name: 'redis standalone',
  async open() {
    const server = await startRedisStandalone();
    stops.push(() => server.stop());
    return new RedisAdapter({ url: server.url });
  },
});

runConformanceSuite({
  name: 'redis cluster (3 masters, 3 replicas)',
  async open() {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    stops.push(() => cluster.stop());
    return new RedisAdapter({ url: cluster.url, waitReplicas: 1 });
  },
});
