// A standalone redis-server for tests.
import { freePort, REDIS_TEST_HOST, type RedisAddress } from './redis-ports.js';
import { launch, persistenceArgs, type RedisServerOptions, removeTempDir } from './redis-process.js';

/** Options of `startRedisStandalone`. */
export interface RedisStandaloneOptions extends RedisServerOptions {
  /** Port to listen on; default a free one from `freePort()`. Never use 6379. */
  readonly port?: number;
}

/** A running standalone server started by `startRedisStandalone`. */
export interface RedisStandalone extends RedisAddress {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Pid of the running redis-server; undefined after kill() or stop(). */
  readonly pid: number | undefined;
  /** The server's temp dir (AOF, log); removed by stop(). */
  readonly dir: string;
  /** The server's log file, inside `dir`. */
  readonly logFile: string;
  /** SIGKILLs the server, as a crash would, keeping its dir so restart() recovers from the AOF. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and dir (after kill()), and waits until it answers PING. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a standalone `redis-server` on 127.0.0.1 in a new temp dir under os.tmpdir(): no RDB snapshots
 * (`--save ''`), AOF with `appendfsync always` unless told otherwise, `protected-mode no`, logging to
 * `redis.log` in the dir. Resolves once it answers PING (rejecting after `startTimeoutMs` with the tail of
 * its log). The caller must `stop()` it, typically in an `after` hook.
 */
export async function startRedisStandalone(options: RedisStandaloneOptions = {}): Promise<RedisStandalone> {
  const startTimeoutMs = options.startTimeoutMs ?? 15000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const fixedPort = options.port;
  if (fixedPort === 6379) throw new Error('startRedisStandalone: tests must not use port 6379');
  const settings = [...persistenceArgs(options), ...(options.extraArgs ?? [])];
  const server = await launch(
    'redis-standalone-',
    fixedPort === undefined ? freePort : async () => fixedPort,
    settings,
    startTimeoutMs,
  );
  let stopped = false;
  return {
    host: REDIS_TEST_HOST,
    port: server.port,
    url: `redis://${REDIS_TEST_HOST}:${server.port}`,
    get pid() {
      return server.pid;
    },
    dir: server.dir,
    logFile: server.logFile,
    kill: () => server.kill(),
    async restart() {
      if (stopped) throw new Error('restart: the server was stopped');
      await server.kill();
      await server.start(startTimeoutMs);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.terminate(stopTimeoutMs);
      await removeTempDir(server.dir);
    },
  };
}
