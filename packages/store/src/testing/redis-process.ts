// One redis-server process (start, kill, terminate) in a temp dir of its own, and the tracking that makes
// sure none outlives the test process: `stop()` ends it; if the test process exits without stopping it (an
// uncaught exception, process.exit), an 'exit' hook SIGKILLs it; and if the test process dies by a signal,
// even SIGKILL, a small watchdog process (awk reading a pipe from this process) sees the pipe close and
// SIGKILLs what is left and removes the temp dirs.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_TEST_HOST } from './redis-ports.js';
import { redisCommand } from './redis-protocol.js';

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

export async function removeTempDir(dir: string): Promise<void> {
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
export async function waitUntil(
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

export class RedisServerProcess {
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
export async function launch(
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
// Server settings

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

/** The `redis-server` arguments for `options`' persistence: no RDB snapshots, AOF as they say. */
export function persistenceArgs(options: RedisServerOptions): string[] {
  return [
    '--save',
    '',
    '--appendonly',
    options.appendOnly === false ? 'no' : 'yes',
    '--appendfsync',
    options.appendFsync ?? 'always',
  ];
}
