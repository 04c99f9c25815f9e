// Where the test servers listen: the loopback host, and ports picked so that a standalone server or a cluster
// node (with its bus port) can bind them.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The loopback address every server here listens on, and the only one. */
export const REDIS_TEST_HOST = '127.0.0.1';

/** Cluster bus ports are the client port plus this (Redis' default `cluster-port` of 0 means port + 10000). */
export const CLUSTER_BUS_PORT_OFFSET = 10000;

/** Where a server listens. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Whether `port` can be bound on 127.0.0.1 right now (by binding it and letting it go). Something listening
 * on 0.0.0.0 or 127.0.0.1 with that port makes it not free. It can of course be taken again before it is used.
 */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: REDIS_TEST_HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port that is free on 127.0.0.1 right now, chosen by the kernel (binds 127.0.0.1:0 and releases it). For
 * a standalone server; a cluster node needs `freeClusterPorts`, as its bus port must be free too.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: REDIS_TEST_HOST, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('freePort: no port was assigned'))));
    });
  });
}

/** The range cluster ports are drawn from: below the kernel's ephemeral range together with their bus port. */
function clusterPortRange(): { low: number; high: number } {
  let ephemeralLow = 32768;
  try {
    const text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const first = Number.parseInt(text.trim().split(/\s+/)[0] ?? '', 10);
    if (Number.isInteger(first) && first > 0) ephemeralLow = first;
  } catch {
    // Not Linux: keep the usual default.
  }
  const low = 10000;
  const high = ephemeralLow - CLUSTER_BUS_PORT_OFFSET - 1;
  // A machine whose ephemeral range starts low leaves no room below it: then draw from anywhere.
  return high - low >= 1000 ? { low, high } : { low, high: 65535 - CLUSTER_BUS_PORT_OFFSET };
}

/**
 * `count` distinct ports for cluster nodes, each with its bus port (port + 10000) free as well on 127.0.0.1,
 * and no port equal to another's bus port. Drawn at random from a range that keeps both ports below the
 * kernel's ephemeral range (10000..22767 with Linux' default), so outgoing connections do not take them and
 * concurrent test files rarely collide. Throws after a bounded number of tries.
 */
export async function freeClusterPorts(count: number, exclude: Iterable<number> = []): Promise<number[]> {
  const { low, high } = clusterPortRange();
  const taken = new Set<number>(exclude);
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 200 + count * 50) {
      throw new Error(`freeClusterPorts: could not find ${count} free port pairs in ${low}..${high}`);
    }
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const bus = port + CLUSTER_BUS_PORT_OFFSET;
    if (taken.has(port) || taken.has(bus)) continue;
    if (!(await isPortFree(port)) || !(await isPortFree(bus))) continue;
    taken.add(port);
    taken.add(bus);
    ports.push(port);
  }
  return ports;
}
