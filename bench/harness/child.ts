/**
 * Runs one measurement in a fresh Node process, so that no engine inherits another's JIT feedback,
 * heap or resident memory. The child prints its result as one marked JSON line on stdout.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { now } from './timing.js';

/** The flags the npm scripts run the benchmarks with (TypeScript sources through tsx, gc() exposed). */
export const CHILD_NODE_FLAGS = ['--conditions=source', '--import', 'tsx', '--expose-gc'] as const;

const RESULT_MARK = '@@bench-result ';
const STDERR_TAIL_CHARS = 4000;

/**
 * Called once by a child script to hand its result to the parent; then ends the process, since an
 * SDK may keep timers or handles alive after its client is closed.
 */
export function emitResultAndExit(result: unknown): void {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
}

export type ChildOutcome<T> =
  | { ok: true; result: T; seconds: number }
  | { ok: false; reason: string; stderrTail: string; seconds: number };

export interface ChildOptions {
  timeoutMs: number;
  /** Extra Node flags, e.g. a heap limit. */
  nodeFlags?: readonly string[];
  /** Echo the child's stderr as it comes (otherwise only its tail is kept, for failures). */
  echoStderr?: boolean;
}

export function runChild<T>(
  script: URL,
  args: readonly string[],
  options: ChildOptions,
): Promise<ChildOutcome<T>> {
  const started = now();
  const child = spawn(
    process.execPath,
    [...CHILD_NODE_FLAGS, ...(options.nodeFlags ?? []), fileURLToPath(script), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (options.echoStderr) process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);

  return new Promise((resolve) => {
    const fail = (reason: string) => resolve({ ok: false, reason, stderrTail, seconds: now() - started });
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(`could not start: ${error.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return fail(`timed out after ${describeLimit(options.timeoutMs)}`);
      const line = stdout
        .split('\n')
        .filter((l) => l.startsWith(RESULT_MARK))
        .at(-1);
      if (code !== 0 || line === undefined) {
        return fail(signal ? `killed by ${signal}` : `exited with code ${code}${line ? '' : ', no result'}`);
      }
      resolve({
        ok: true,
        result: JSON.parse(line.slice(RESULT_MARK.length)) as T,
        seconds: now() - started,
      });
    });
  });
}

function describeLimit(ms: number): string {
  return ms >= 60_000 ? `${+(ms / 60_000).toFixed(2)} min` : `${+(ms / 1000).toFixed(1)} s`;
}
