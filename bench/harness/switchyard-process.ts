/**
 * A real `switchyard` process (the CLI from source, as `npm start` runs it) for the benchmarks that
 * measure over HTTP, and the REST calls they make to it: start and stop, resident memory, the admin API,
 * and bulk loading flags through `/api/v1/apply`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlagDocument } from '@switchyard/core';

/** The admin token the benchmarks' servers are started with (`SWITCHYARD_ADMIN_TOKEN`). */
export const BENCH_ADMIN_TOKEN = `sy_${'be'.repeat(8)}_${'n'.repeat(43)}`;

const CLI_MAIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'src', 'main.ts');

export { freePort } from '../../packages/store/src/testing/redis-ports.js';

export interface SwitchyardProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** The last 16,000 characters it printed on stdout (its log, at LOG_LEVEL). */
  output(): string;
  /** Ends it with SIGTERM (SIGKILL after `graceMs`) and waits for it to exit. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** The subcommand and its options, e.g. `['serve', '--data', dir]`; `--port` is added. */
  args: readonly string[];
  port: number;
  /** Node flags before the script, e.g. `--cpu-prof`. */
  nodeFlags?: readonly string[];
  env?: Record<string, string>;
  /** Longest wait for `/healthz` to answer. Default 120 s. */
  timeoutMs?: number;
}

/**
 * Starts `switchyard <args> --port <port>` and resolves once its `/healthz` answers 200. Its stderr
 * goes to ours; a process that exits before it is up rejects with its stdout.
 */
export async function startSwitchyard(options: StartOptions): Promise<SwitchyardProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      '--conditions=source',
      '--import',
      'tsx',
      CLI_MAIN,
      ...options.args,
      '--port',
      String(options.port),
    ],
    {
      env: { ...process.env, SWITCHYARD_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, LOG_LEVEL: 'warn', ...options.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output = (output + chunk).slice(-16_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let up = false;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!up && !gone && Date.now() < deadline) {
    try {
      up = (await fetch(`${url}/healthz`)).status === 200;
    } catch {}
    if (!up) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (!up) {
    child.kill('SIGKILL');
    throw new Error(`switchyard ${options.args[0]} did not come up${gone ? ' (it exited)' : ''}: ${output}`);
  }
  return {
    child,
    url,
    output: () => output,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A process's resident memory in MiB: all of it, and the part that is not file-backed. LMDB maps its data
 * file, and Linux counts the pages of it that reads touched (RssFile: page cache, reclaimable) in RSS too.
 */
export function rssMiB(pid: number): { total: number; anonymous: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { total: field('VmRSS'), anonymous: field('RssAnon') + field('RssShmem') };
}

/** Calls to the REST API with one token; a status other than 2xx throws with the start of the body. */
export type ApiCall = (method: string, path: string, body?: unknown) => Promise<string>;

export function apiClient(url: string, token: string = BENCH_ADMIN_TOKEN): ApiCall {
  const auth = { authorization: `Bearer ${token}`, 'x-change-reason': 'benchmark' };
  return async (method, path, body) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text.slice(0, 300)}`);
    return text;
  };
}

/**
 * Creates flags `from` … `to - 1` through `/api/v1/apply`, 10,000 a request, two requests in flight;
 * prints progress on stderr every 100,000.
 */
export async function applyFlags(
  api: ApiCall,
  from: number,
  to: number,
  documentOf: (i: number) => FlagDocument,
): Promise<void> {
  const chunk = 10_000;
  let next = from;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < to) {
        const start = next;
        next += chunk;
        const documents = [];
        for (let i = start; i < Math.min(start + chunk, to); i++) documents.push(documentOf(i));
        await api('POST', '/api/v1/apply', { documents });
        if ((start / chunk) % 10 === 0) process.stderr.write(`  applied ${Math.min(start + chunk, to)}\n`);
      }
    }),
  );
}
