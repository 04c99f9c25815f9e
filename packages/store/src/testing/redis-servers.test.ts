// Tests of the Redis test harness with real redis-server processes: a standalone server, a 3+3 cluster with
// a failover, and that nothing is left running afterwards, also when the test process dies abnormally.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  CLUSTER_BUS_PORT_OFFSET,
  CLUSTER_SLOTS,
  crc16,
  freeClusterPorts,
  freePort,
  isPortFree,
  keySlot,
  parseInfo,
  type RedisCluster,
  redisCli,
  redisCommand,
  redisText,
  startRedisCluster,
  startRedisStandalone,
  trackedRedisPids,
} from './redis-servers.js';

/** Whether `pid` is a running process (a zombie does not count). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return process.platform !== 'linux';
    } catch {
      return false;
    }
  }
}

/** Pids of running redis-server processes listening on any of `ports` (from /proc: their title names the port). */
function redisServersOn(ports: readonly number[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (!cmdline.includes('redis-server')) continue;
    if (
      ports.some(
        (port) =>
          cmdline.includes(`:${port} `) || cmdline.includes(`:${port}\n`) || cmdline.endsWith(`:${port}`),
      )
    ) {
      if (isRunning(Number(entry))) found.push(Number(entry));
    }
  }
  return found;
}

async function eventually(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('hash slots', () => {
  it('computes CRC16/XMODEM and Redis key slots with hash tags', () => {
    assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('bar'), 5061);
    assert.equal(keySlot('hello'), 866);
    assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
    assert.equal(keySlot('{user1000}.followers'), keySlot('user1000'));
    // An empty tag hashes the whole key; the tag ends at the first '}' after the first '{'.
    assert.equal(keySlot('foo{}{bar}'), crc16(Buffer.from('foo{}{bar}')) % CLUSTER_SLOTS);
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
  });
});

describe('ports', () => {
  it('freePort gives a free loopback port', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port !== 6379);
    assert.equal(await isPortFree(port), true);
  });

  it('freeClusterPorts gives distinct ports whose bus ports are free too', async () => {
    const ports = await freeClusterPorts(6);
    assert.equal(new Set(ports).size, 6);
    for (const port of ports) {
      assert.ok(!ports.includes(port + CLUSTER_BUS_PORT_OFFSET));
      assert.ok(port + CLUSTER_BUS_PORT_OFFSET <= 65535);
      assert.equal(await isPortFree(port), true);
      assert.equal(await isPortFree(port + CLUSTER_BUS_PORT_OFFSET), true);
    }
  });
});

describe('startRedisStandalone', () => {
  it('starts a server that answers, survives kill -9 through its AOF, and stops without leftovers', async () => {
    const server = await startRedisStandalone();
    const pid = server.pid;
    try {
      assert.ok(pid !== undefined && isRunning(pid));
      assert.notEqual(server.port, 6379);
      assert.equal(server.host, '127.0.0.1');
      assert.equal(server.url, `redis://127.0.0.1:${server.port}`);
      assert.equal((await redisCli(['-p', String(server.port), 'PING'])).stdout, 'PONG');
      const config = await redisCommand(server.port, ['CONFIG', 'GET', '*']);
      assert.ok(Array.isArray(config));
      const settings = new Map<string, unknown>();
      for (let i = 0; i + 1 < config.length; i += 2) settings.set(String(config[i]), config[i + 1]);
      assert.equal(settings.get('bind'), '127.0.0.1');
      assert.equal(settings.get('save'), '');
      assert.equal(settings.get('appendonly'), 'yes');
      assert.equal(settings.get('appendfsync'), 'always');
      assert.equal(settings.get('protected-mode'), 'no');
      assert.equal(settings.get('dir'), server.dir);
      assert.ok(existsSync(server.logFile));

      assert.equal(await redisCommand(server.port, ['SET', 'durable', 'yes']), 'OK');
      await server.kill();
      assert.equal(server.pid, undefined);
      assert.equal(isRunning(pid), false);
      await server.restart();
      assert.equal(await redisCommand(server.port, ['GET', 'durable']), 'yes');
    } finally {
      await server.stop();
    }
    assert.equal(server.pid, undefined);
    assert.equal(pid !== undefined && isRunning(pid), false);
    assert.equal(existsSync(server.dir), false);
    assert.deepEqual(redisServersOn([server.port]), []);
    await assert.rejects(redisCommand(server.port, ['PING'], { timeoutMs: 1000 }));
    await server.stop(); // idempotent
  });

  it('rejects with the log tail when the server cannot start', async () => {
    await assert.rejects(
      startRedisStandalone({ extraArgs: ['--no-such-directive', 'x'], startTimeoutMs: 5000 }),
      /redis-server on port \d+ exited with code 1[\s\S]*no-such-directive/,
    );
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisCluster;
  let ports: number[] = [];
  let pids: number[] = [];
  let dirs: string[] = [];
  const key = 'flag:{tenant-7}:checkout';

  before(async () => {
    const started = Date.now();
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    console.log(`# cluster of 6 formed in ${Date.now() - started} ms`);
    ports = cluster.nodes.map((node) => node.port);
    pids = cluster.nodes.map((node) => node.pid ?? -1);
    dirs = cluster.nodes.map((node) => node.dir);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('forms a healthy 3+3 cluster', async () => {
    assert.equal(cluster.nodes.length, 6);
    assert.equal(cluster.nodes.filter((node) => node.role === 'master').length, 3);
    assert.equal(cluster.nodes.filter((node) => node.role === 'replica').length, 3);
    assert.deepEqual(
      cluster.startupNodes,
      ports.map((port) => ({ host: '127.0.0.1', port })),
    );
    assert.equal(cluster.url, `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`);
    for (const node of cluster.nodes) {
      assert.ok(node.pid !== undefined && isRunning(node.pid));
      assert.notEqual(node.port, 6379);
      const info = parseInfo(await redisText(node.port, ['CLUSTER', 'INFO']));
      assert.equal(info.get('cluster_state'), 'ok');
      assert.equal(info.get('cluster_slots_assigned'), '16384');
      assert.equal(info.get('cluster_slots_ok'), '16384');
      assert.equal(info.get('cluster_known_nodes'), '6');
      assert.equal(info.get('cluster_size'), '3');
      const replication = parseInfo(await redisText(node.port, ['INFO', 'replication']));
      if (node.role === 'replica') assert.equal(replication.get('master_link_status'), 'up');
      else assert.equal(replication.get('connected_slaves'), '1');
    }
    const masters = await cluster.masters();
    assert.equal(masters.length, 3);
    const slots = masters
      .flatMap((master) => master.slots)
      .reduce((sum, [from, to]) => sum + to - from + 1, 0);
    assert.equal(slots, CLUSTER_SLOTS);
    for (const master of masters) assert.equal(master.replicas.length, 1);
  });

  it('hashes keys to the slots the cluster does', async () => {
    const port = ports[0] ?? 0;
    for (const sample of [
      'foo',
      'hello',
      key,
      '{}x',
      'a{b}c',
      'ünïcödé',
      'foo{{bar}}zap',
      '',
      'x'.repeat(300),
    ]) {
      assert.equal(keySlot(sample), await redisCommand(port, ['CLUSTER', 'KEYSLOT', sample]), sample);
    }
    const owner = await cluster.masterFor(key);
    assert.equal(owner.slot, keySlot(key));
    assert.ok(owner.slots.some(([from, to]) => owner.slot >= from && owner.slot <= to));
  });

  it('fails over when the master of a key is killed, and takes writes to that key again', async () => {
    const owner = await cluster.masterFor(key);
    assert.equal((await redisCli(['-c', '-p', String(owner.port), 'SET', key, 'before'])).stdout, 'OK');
    // Make sure the replica has it before the master dies (replication is asynchronous).
    assert.equal(await redisCommand(owner.port, ['WAIT', 1, 2000]), 1);

    await cluster.kill(owner.port);
    assert.equal(owner.pid !== undefined && isRunning(owner.pid), false);
    const failover = await cluster.waitForFailover(owner.port, { timeoutMs: 15000 });
    console.log(`# failover took ${failover.elapsedMs} ms`);
    assert.ok(failover.elapsedMs < 10000, `failover took ${failover.elapsedMs} ms`);
    assert.ok(failover.promoted);
    assert.equal(owner.replicas[0]?.port, failover.promoted.port);

    const survivors = cluster.nodes.filter((node) => node.port !== owner.port);
    for (const node of survivors) {
      const info = parseInfo(await redisText(node.port, ['CLUSTER', 'INFO']));
      assert.equal(info.get('cluster_state'), 'ok', `cluster_state on ${node.port}`);
    }
    const newOwner = await cluster.masterFor(key);
    assert.equal(newOwner.port, failover.promoted.port);
    assert.equal(cluster.nodes.find((node) => node.port === failover.promoted?.port)?.role, 'master');

    // Through a survivor that does not own the slot, so redis-cli -c has to follow a MOVED redirect.
    const entry = survivors.find((node) => node.port !== newOwner.port)?.port ?? 0;
    assert.equal((await redisCli(['-c', '-p', String(entry), 'GET', key])).stdout, 'before');
    assert.equal((await redisCli(['-c', '-p', String(entry), 'SET', key, 'after'])).stdout, 'OK');
    assert.equal(await redisCommand(newOwner.port, ['GET', key]), 'after');
  });

  it('restarts a killed node, which rejoins as a replica', async () => {
    const killed = cluster.nodes.find((node) => node.pid === undefined);
    assert.ok(killed, 'the previous test killed a node');
    await cluster.restart(killed.port);
    const node = cluster.nodes.find((candidate) => candidate.port === killed.port);
    assert.ok(node?.pid !== undefined && isRunning(node.pid));
    assert.equal(node.role, 'replica');
    assert.equal(await redisCommand(killed.port, ['READONLY']), 'OK');
    const replication = parseInfo(await redisText(killed.port, ['INFO', 'replication']));
    assert.equal(replication.get('master_link_status'), 'up');
    const masters = await cluster.masters();
    assert.equal(masters.length, 3);
    assert.ok(masters.every((master) => master.replicas.length === 1));
  });

  it('stop() leaves no redis-server of ours running and removes the dirs', async () => {
    pids = [...pids, ...cluster.nodes.map((node) => node.pid ?? -1)];
    const started = Date.now();
    await cluster.stop();
    console.log(`# cluster stopped in ${Date.now() - started} ms`);
    for (const pid of pids) assert.equal(pid > 0 && isRunning(pid), false, `pid ${pid}`);
    assert.deepEqual(redisServersOn(ports), []);
    for (const dir of dirs) assert.equal(existsSync(dir), false, dir);
    assert.deepEqual(trackedRedisPids(), []);
    await cluster.stop(); // idempotent
  });
});

describe('abnormal exit of the test process', () => {
  const harness = new URL('./redis-servers.ts', import.meta.url).href;

  /** Runs a child node process that starts a standalone server, reports it, then dies as `death` says. */
  async function startThenDie(death: string): Promise<{ pid: number; dir: string; port: number }> {
    const script = `
      const { startRedisStandalone } = await import(${JSON.stringify(harness)});
      const server = await startRedisStandalone();
      console.log(JSON.stringify({ pid: server.pid, dir: server.dir, port: server.port }));
      ${death}
    `;
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await new Promise<void>((resolve) => child.once('close', () => resolve()));
    const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
    assert.ok(line, `child printed no server: ${stdout}\n${stderr}`);
    return JSON.parse(line) as { pid: number; dir: string; port: number };
  }

  for (const [name, death] of [
    ['an uncaught exception', "throw new Error('test process crashes');"],
    ['SIGKILL', "process.kill(process.pid, 'SIGKILL');"],
  ] as const) {
    it(`kills the servers and removes their dirs on ${name}`, async () => {
      const server = await startThenDie(death);
      await eventually(`redis-server ${server.pid} to be gone`, 5000, () => !isRunning(server.pid));
      await eventually(`${server.dir} to be removed`, 5000, () => !existsSync(server.dir));
      assert.deepEqual(redisServersOn([server.port]), []);
    });
  }
});
