/**
 * Propagation from the API's acknowledgement to the SDK's `change` event: SDK clients in a few child
 * processes (bench/delivery/sdk-clients.ts) follow one namespace of a server or relay; flags of that
 * namespace are switched in production one after another through the REST API, and for each change ×
 * client the delay from the moment the API's response arrived to the client's `change` event is a sample.
 * Both moments are read with `Date.now()` on this machine.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ApiCall } from '../harness/switchyard-process.js';
import { type Latencies, percentiles } from '../store/measure.js';
import type { ClientsReady, ClientsSamples, ToClients } from './sdk-clients.js';
import { FLAGS_PER_NAMESPACE, flagKey, isEnabled, namespaceOf } from './workload.js';

export interface PropagationOptions {
  /** The server or relay the clients follow. */
  url: string;
  sdkKey: string;
  /** The API that makes the changes (always the server's). */
  api: ApiCall;
  /** Which namespace (by index) the clients follow and the changes touch. */
  namespaceIndex: number;
  connections: number;
  processes: number;
  changes: number;
  /** Changes before the measured ones, which also prove every stream is open. */
  warmup: number;
  pauseMs: number;
}

export interface PropagationResult extends Latencies {
  min: number;
  /** Client × change pairs never seen within the collection timeout. */
  missing: number;
  /** The same for the warm-up changes. */
  warmupMissing: number;
  /**
   * Per change, the delay to the first client that saw it: the server's (or relay's) part, without the
   * queue of clients that one child process works through one after another.
   */
  first: Latencies;
  /** Time for every client to be ready (snapshot of the namespace received), ms. */
  readyMs: number;
  /** The API's own latency for the changes (request to response), ms. */
  apiP50: number;
  apiP99: number;
}

const CLIENTS_SCRIPT = fileURLToPath(new URL('./sdk-clients.ts', import.meta.url));
/** Long enough for a relay that fell back to polling its upstream (every 30 s) to catch up. */
const COLLECT_TIMEOUT_MS = 45_000;

/** One child process of clients, with a queue of the messages it sent. */
class ClientsProcess {
  private readonly inbox: unknown[] = [];
  private waiting: ((message: unknown) => void) | undefined;
  readonly exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly count: number,
  ) {
    child.on('message', (message) => {
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve(message);
      } else this.inbox.push(message);
    });
    this.exited = new Promise((resolve) => child.once('exit', resolve));
  }

  next<T>(timeoutMs: number): Promise<T> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift() as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('an SDK clients process did not answer')), timeoutMs);
      void this.exited.then((code) => reject(new Error(`an SDK clients process exited with ${code}`)));
      this.waiting = (message) => {
        clearTimeout(timer);
        resolve(message as T);
      };
    });
  }

  send(message: ToClients): void {
    this.child.send(message);
  }
}

export async function measurePropagation(options: PropagationOptions): Promise<PropagationResult> {
  const { api, namespaceIndex, processes } = options;
  if (options.warmup + options.changes > FLAGS_PER_NAMESPACE) {
    throw new Error(`at most ${FLAGS_PER_NAMESPACE} changes (warm-up included) per namespace`);
  }
  const first = namespaceIndex * FLAGS_PER_NAMESPACE;
  const namespace = namespaceOf(first);
  const children: ClientsProcess[] = [];
  for (let p = 0; p < processes; p++) {
    const count = Math.floor(options.connections / processes) + (p < options.connections % processes ? 1 : 0);
    const child = fork(CLIENTS_SCRIPT, [options.url, options.sdkKey, namespace, String(count)], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(new ClientsProcess(child, count));
  }
  try {
    const started = performance.now();
    const ready = await Promise.all(children.map((c) => c.next<ClientsReady>(300_000)));
    const readyMs = performance.now() - started;
    const fromServer = ready.reduce((n, r) => n + r.fromServer, 0);
    if (fromServer !== options.connections) {
      throw new Error(`only ${fromServer} of ${options.connections} clients got data from ${options.url}`);
    }
    process.stderr.write(`  ${options.connections} clients ready in ${(readyMs / 1000).toFixed(1)} s\n`);

    const apiMs: number[] = [];
    /** Switches flags `from` … `to - 1` in production, one after another; their acknowledgement times. */
    const change = async (from: number, to: number): Promise<Map<string, number>> => {
      const acknowledged = new Map<string, number>();
      for (let i = from; i < to; i++) {
        const key = flagKey(i);
        const action = isEnabled(i) ? 'disable' : 'enable';
        const sent = performance.now();
        await api('POST', `/api/v1/flags/${encodeURIComponent(key)}/environments/production/${action}`);
        acknowledged.set(key, Date.now());
        apiMs.push(performance.now() - sent);
        await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      }
      return acknowledged;
    };
    const collect = async (keys: string[]) => {
      for (const c of children) c.send({ type: 'collect', keys, timeoutMs: COLLECT_TIMEOUT_MS });
      return Promise.all(children.map((c) => c.next<ClientsSamples>(COLLECT_TIMEOUT_MS + 60_000)));
    };

    const warm = await change(first, first + options.warmup);
    const warmSamples = await collect([...warm.keys()]);
    const warmupMissing = warmSamples.reduce((n, s) => n + s.missing, 0);
    if (warmupMissing > 0) {
      process.stderr.write(`  ${warmupMissing} client × change pairs of the warm-up never arrived\n`);
    }
    apiMs.length = 0;

    const from = first + options.warmup;
    const acknowledged = await change(from, from + options.changes);
    const collected = await collect([...acknowledged.keys()]);
    const delays: number[] = [];
    const firstSeen = new Map<string, number>();
    let missing = 0;
    for (const { samples, missing: m } of collected) {
      missing += m;
      for (const [key, times] of Object.entries(samples)) {
        const ack = acknowledged.get(key)!;
        for (const at of times) {
          delays.push(at - ack);
          firstSeen.set(key, Math.min(firstSeen.get(key) ?? Number.POSITIVE_INFINITY, at - ack));
        }
      }
    }
    // A change a client never saw counts as an infinite delay, so the percentiles cannot hide it.
    for (let i = 0; i < missing; i++) delays.push(Number.POSITIVE_INFINITY);
    const apiLatency = percentiles(apiMs);
    return {
      ...percentiles(delays),
      min: delays.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY),
      missing,
      warmupMissing,
      first: percentiles(
        [...acknowledged.keys()].map((key) => firstSeen.get(key) ?? Number.POSITIVE_INFINITY),
      ),
      readyMs,
      apiP50: apiLatency.p50,
      apiP99: apiLatency.p99,
    };
  } finally {
    for (const c of children) if (c.child.connected) c.send({ type: 'exit' });
    await Promise.all(
      children.map(async (c) => {
        const timer = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
        await c.exited;
        clearTimeout(timer);
      }),
    );
  }
}
