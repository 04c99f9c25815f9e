// `redis-cli`, used for `--cluster create` and offered to tests.
import { execFile } from 'node:child_process';

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
