/**
 * A child of the delivery benchmark: an SDK cold start. With the SDK already imported, it creates a
 * client of every namespace the key sees, waits for `ready()`, and reports the time it took and its RSS
 * before, right after, and after a full GC with the client still alive. Run with `--expose-gc`.
 *
 *   cold-start.ts URL SDK_KEY
 */
import { createClient } from '@switchyard/sdk';
import { emitResultAndExit } from '../harness/child.js';
import { flagKey } from './workload.js';

export interface ColdStart {
  ms: number;
  source: string;
  rssBefore: number;
  rssReady: number;
  rssAfterGc: number;
  heapReady: number;
  namespaces: number;
  /** Flag 1 (on, serving `on`) evaluates to true and flag 0 (off) to false. */
  check: boolean;
}

const [url, sdkKey] = process.argv.slice(2);
if (url === undefined || sdkKey === undefined) throw new Error('usage: cold-start.ts URL SDK_KEY');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

gc();
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
const client = createClient({
  url,
  sdkKey,
  events: false,
  readyTimeoutMs: 120_000,
  connection: { requestTimeoutMs: 120_000 },
});
const { source } = await client.ready();
const ms = performance.now() - started;
const { rss: rssReady, heapUsed: heapReady } = process.memoryUsage();
gc();
const rssAfterGc = process.memoryUsage().rss;
const namespaces = Object.keys(client.positions).length;
const check =
  client.boolean(flagKey(1), { targetingKey: 'u1' }, false) &&
  !client.boolean(flagKey(0), { targetingKey: 'u1' }, true);
emitResultAndExit({
  ms,
  source,
  rssBefore,
  rssReady,
  rssAfterGc,
  heapReady,
  namespaces,
  check,
} satisfies ColdStart);
