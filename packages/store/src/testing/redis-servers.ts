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
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The loopback address every server here listens on, and the only one. */
export const REDIS_TEST_HOST = '127.0.0.1';

/** Cluster bus ports are the client port plus this (Redis' default `cluster-port` of 0 means port + 10000). */
export const CLUSTER_BUS_PORT_OFFSET = 10000;

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** Where a server listens. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

// ---------------------------------------------------------------------------------------------------------
// Ports

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

// ---------------------------------------------------------------------------------------------------------
// A minimal RESP client and redis-cli

/** A reply from Redis (RESP2): status and bulk strings as strings, integers, nil as null, arrays; an error
 * reply nested in an array is an Error. */
export type RedisReply = string | number | null | Error | RedisReply[];

/** An error reply from Redis (`-ERR ...`, `-LOADING ...`, `-MOVED ...`). */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';
}

function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(String(arg), 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `offset`; undefined if the buffer does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): { value: RedisReply; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RedisReplyError(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number.parseInt(line, 10);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number.parseInt(line, 10);
      if (count < 0) return { value: null, next };
      const items: RedisReply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}

/** Options of `redisCommand`. */
export interface RedisCommandOptions {
  /** Defaults to 127.0.0.1. */
  readonly host?: string;
  /** Bound on connecting plus replying; default 5000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Sends one command to the server at `port` on a fresh connection and resolves with its reply. Rejects with
 * a `RedisReplyError` on an error reply, and with an Error when the connection fails (e.g. ECONNREFUSED),
 * closes early, or `timeoutMs` passes. No cluster redirection: it asks exactly that node.
 */
export function redisCommand(
  port: number,
  args: readonly (string | number)[],
  options: RedisCommandOptions = {},
): Promise<RedisReply> {
  const host = options.host ?? REDIS_TEST_HOST;
  const timeoutMs = options.timeoutMs ?? 5000;
  const what = `${host}:${port} ${String(args[0] ?? '')}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let buffer: Buffer = Buffer.alloc(0);
    const socket = createConnection({ host, port });
    const finish = (error: Error | undefined, value?: RedisReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`redis ${what}: no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let parsed: ReturnType<typeof parseReply>;
      try {
        parsed = parseReply(buffer, 0);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (parsed === undefined) return;
      if (parsed.value instanceof RedisReplyError) finish(parsed.value);
      else finish(undefined, parsed.value);
    });
    socket.on('error', (error) => finish(new Error(`redis ${what}: ${error.message}`)));
    socket.on('close', () => finish(new Error(`redis ${what}: connection closed before a reply`)));
  });
}

/** `redisCommand` for commands whose reply is a string (INFO, CLUSTER INFO, CLUSTER NODES, GET of a set key). */
export async function redisText(
  port: number,
  args: readonly (string | number)[],
  options: RedisCommandOptions = {},
): Promise<string> {
  const reply = await redisCommand(port, args, options);
  if (typeof reply !== 'string') {
    throw new Error(
      `redis ${port} ${String(args[0] ?? '')}: expected a string reply, got ${JSON.stringify(reply)}`,
    );
  }
  return reply;
}

/** What `redisCli` returns. */
export interface RedisCliResult {
  /** Standard output, trailing newline removed. */
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `redis-cli` with `args` (e.g. `['-c', '-p', '7000', 'SET', 'k', 'v']`) and resolves with its output.
 * Rejects when it exits non-zero (e.g. it cannot connect) or runs longer than `timeoutMs` (default 10000).
 * Beware: redis-cli exits 0 on an error reply and prints it (`ERR ...`) on stdout, so check `stdout`.
 */
export function redisCli(args: readonly string[], timeoutMs = 10000): Promise<RedisCliResult> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', [...args], { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const hint =
          code === 'ENOENT'
            ? ' (redis-cli is not on PATH: run `node scripts/ensure-deps.mjs`)'
            : error.killed
              ? ` (timed out after ${timeoutMs} ms)`
              : '';
        const output = `${String(stdout).trim()}\n${String(stderr).trim()}`.trim();
        reject(new Error(`redis-cli ${args.join(' ')} failed${hint}: exit ${String(code)}\n${output}`));
        return;
      }
      resolve({ stdout: String(stdout).replace(/\r?\n$/, ''), stderr: String(stderr) });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Hash slots

/** CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/**
 * The hash slot (0..16383) Redis Cluster puts `key` in, as CLUSTER KEYSLOT computes it: CRC16 of the key's
 * UTF-8 bytes mod 16384, or of its hash tag, the part between the first `{` and the first `}` after it, when
 * that part is non-empty (`{user1}.a` and `{user1}.b` share a slot).
 */
export function keySlot(key: string): number {
  let bytes: Uint8Array = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

// ---------------------------------------------------------------------------------------------------------
// Process tracking: stop on exit, and a watchdog for deaths that skip 'exit' handlers

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
let watchdog: ChildProcess | null | undefined;

// Reads "+pid N", "-pid N", "+dir PATH", "-dir PATH" lines from this process; at end of input, which comes
// when this process is gone however it died, kills the pids still listed and removes the dirs still listed.
const WATCHDOG_PROGRAM = `
$1 == "+pid" { pids[$2] = 1; next }
$1 == "-pid" { delete pids[$2]; next }
$1 == "+dir" { dirs[substr($0, 6)] = 1; next }
$1 == "-dir" { delete dirs[substr($0, 6)]; next }
END {
  n = 0
  for (p in pids) { system("kill -9 " p " 2>/dev/null"); n++ }
  if (n > 0) system("sleep 0.2")
  for (d in dirs) system("rm -rf '" d "'")
}`;

function tellWatchdog(line: string): void {
  if (watchdog === undefined) {
    watchdog = null;
    try {
      const child = spawn('awk', [WATCHDOG_PROGRAM], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => {
        if (watchdog === child) watchdog = null;
      });
      child.stdin?.on('error', () => {});
      child.unref();
      (child.stdin as Socket | null)?.unref();
      watchdog = child;
    } catch {
      watchdog = null;
    }
  }
  if (watchdog?.stdin && !watchdog.stdin.destroyed) watchdog.stdin.write(`${line}\n`);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // Synchronous only: SIGKILL what is still running, remove the temp dirs, let the watchdog go.
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
    try {
      watchdog?.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  });
}

function trackChild(child: ChildProcess): void {
  installExitHook();
  const pid = child.pid;
  if (pid === undefined) return;
  liveChildren.add(child);
  tellWatchdog(`+pid ${pid}`);
  child.once('exit', () => {
    liveChildren.delete(child);
    tellWatchdog(`-pid ${pid}`);
  });
}

async function makeTempDir(prefix: string): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  liveDirs.add(dir);
  if (!dir.includes("'") && !dir.includes('\n')) tellWatchdog(`+dir ${dir}`);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
  tellWatchdog(`-dir ${dir}`);
}

/** Pids of the redis-server processes this module started that are still running (for leak checks). */
export function trackedRedisPids(): number[] {
  return [...liveChildren].map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
}

// ---------------------------------------------------------------------------------------------------------
// One redis-server process

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; throws with `what` and the last reason it gave after `timeoutMs`. */
async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<true | string>,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked yet';
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() >= deadline)
      throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${last})`);
    await sleep(intervalMs);
  }
}

async function tail(path: string, lines = 25): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

class RedisServerProcess {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly logFile: string;
  readonly outFile: string;

  constructor(
    readonly dir: string,
    public port: number,
    private readonly settings: readonly string[],
  ) {
    this.logFile = join(dir, 'redis.log');
    this.outFile = join(dir, 'redis.out');
  }

  get pid(): number | undefined {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  args(): string[] {
    return [
      '--port',
      String(this.port),
      '--bind',
      REDIS_TEST_HOST,
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--dir',
      this.dir,
      '--logfile',
      this.logFile,
      ...this.settings,
    ];
  }

  /** The tail of the server's log (and of what it printed before opening its log), for error messages. */
  async diagnostics(): Promise<string> {
    const out = existsSync(this.outFile) ? await tail(this.outFile, 10) : '';
    return `--- ${this.logFile} (tail) ---\n${await tail(this.logFile)}${out ? `\n--- ${this.outFile} ---\n${out}` : ''}`;
  }

  /** Spawns the server and waits until it answers PING; rejects (with the log tail) if it exits first. */
  async start(timeoutMs: number): Promise<void> {
    if (this.running) throw new Error(`redis-server on port ${this.port} is already running`);
    const out = openSync(this.outFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', this.args(), { stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    this.child = child;
    let exitInfo: string | undefined;
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve();
      });
      child.once('error', (error) => {
        spawnError = error;
        exitInfo = `could not be started: ${error.message}`;
        resolve();
      });
    });
    child.unref();
    trackChild(child);
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (exitInfo === undefined) {
      try {
        if ((await redisCommand(this.port, ['PING'], { timeoutMs: 1000 })) === 'PONG') return;
      } catch (error) {
        last = (error as Error).message;
      }
      if (exitInfo !== undefined) break;
      if (Date.now() >= deadline) {
        await this.kill();
        throw new Error(
          `redis-server on port ${this.port} did not answer PING within ${timeoutMs} ms (last: ${last})\n${await this.diagnostics()}`,
        );
      }
      await sleep(50);
    }
    const hint =
      (spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
        ? ' (redis-server is not on PATH: run `node scripts/ensure-deps.mjs`)'
        : '';
    throw new Error(`redis-server on port ${this.port} ${exitInfo}${hint}\n${await this.diagnostics()}`);
  }

  /** SIGKILLs the server and waits until it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    // The child is unref'd (a forgotten server must not keep the test process alive); while waiting for its
    // exit it must be ref'd, or the event loop could end with this wait pending.
    this.child?.ref();
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /**
   * SIGTERM (Redis shuts down cleanly, syncing its AOF), then SIGKILL if it is still there after `timeoutMs`.
   * SIGTERM is repeated every 250 ms: Redis drops a shutdown request it cannot honour at that moment (e.g.
   * "Writing initial AOF, can't exit." while the AOF rewrite after a replica's full sync runs) and does not
   * retry it by itself.
   */
  async terminate(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    const child = this.child;
    child?.ref();
    child?.kill('SIGTERM');
    let retry: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        retry = setInterval(() => {
          if (this.running) child?.kill('SIGTERM');
        }, 250);
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearInterval(retry);
    clearTimeout(timer);
    if (timedOut) await this.kill();
  }
}

/**
 * Creates a temp dir and starts a server in it, on the port `pickPort` gives; when the port turns out to be
 * taken (another process bound it since it was checked), tries again with a new dir and port.
 */
async function launch(
  prefix: string,
  pickPort: () => Promise<number>,
  settings: readonly string[],
  timeoutMs: number,
): Promise<RedisServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const dir = await makeTempDir(prefix);
    const server = new RedisServerProcess(dir, await pickPort(), settings);
    try {
      await server.start(timeoutMs);
      return server;
    } catch (error) {
      await server.kill();
      await removeTempDir(dir);
      const message = (error as Error).message;
      if (attempt < 4 && /already in use|Could not create server TCP listening socket/i.test(message))
        continue;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Standalone

/** Persistence and lifecycle settings shared by standalone servers and cluster nodes. */
export interface RedisServerOptions {
  /** `appendonly`; default true. */
  readonly appendOnly?: boolean;
  /** `appendfsync`; default 'always' (every acknowledged write is on disk, so it survives a SIGKILL). */
  readonly appendFsync?: 'always' | 'everysec' | 'no';
  /** More `redis-server` arguments, appended after the defaults (e.g. `['--maxmemory', '64mb']`). */
  readonly extraArgs?: readonly string[];
  /** Bound on a server's start until it answers PING; default 15000 ms. */
  readonly startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL; default 5000 ms. */
  readonly stopTimeoutMs?: number;
}

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

function persistenceArgs(options: RedisServerOptions): string[] {
  return [
    '--save',
    '',
    '--appendonly',
    options.appendOnly === false ? 'no' : 'yes',
    '--appendfsync',
    options.appendFsync ?? 'always',
  ];
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

// ---------------------------------------------------------------------------------------------------------
// Cluster

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

/** Parses `key:value` lines (INFO, CLUSTER INFO). */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

const servesSlot = (entry: ClusterNodeEntry, slot: number) =>
  entry.slots.some(([from, to]) => slot >= from && slot <= to);
const isFailed = (entry: ClusterNodeEntry) => entry.flags.includes('fail') || entry.flags.includes('fail?');

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

async function clusterView(port: number): Promise<ClusterNodeEntry[]> {
  return parseClusterNodes(await redisText(port, ['CLUSTER', 'NODES'], { timeoutMs: 2000 }));
}

/** Why the node on `port` is not (yet) a healthy member of a cluster of `size` nodes; true if it is. */
async function nodeHealth(port: number, size: number): Promise<true | string> {
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
  const persistence = parseInfo(await redisText(port, ['INFO', 'persistence'], { timeoutMs: 2000 }));
  for (const field of ['loading', 'aof_rewrite_in_progress', 'aof_rewrite_scheduled']) {
    const value = persistence.get(field);
    if (value !== undefined && value !== '0') return `node ${port}: ${field}:${value}`;
  }
  return true;
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
