/**
 * The relay: follows an upstream (a server, or another relay) with the SDK's `UpstreamFeed`, keeps the
 * data in its own LMDB, and serves the same snapshot, stream and OFREP endpoints to the SDKs of its
 * region. When the upstream fails it keeps serving the last known good data and says how stale it is;
 * it starts from disk with no upstream at all.
 *
 * The upstream connection is a circuit breaker: closed while the stream (or polling) works, open after
 * a failure (the feed waits with exponential backoff and full jitter), half-open while it tries again.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { readBody, UpstreamError, UpstreamFeed, type UpstreamFeedOptions } from '@switchyard/sdk';
import {
  capConnections,
  credentials,
  HttpProblem,
  httpLimits,
  limitedServerOptions,
  mountDelivery,
  sendProblem,
  useJsonBodyParser,
} from '@switchyard/server';
import Fastify, { type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { openRelayStore } from './open-store.js';
import { relayAuthenticator, whoAmI } from './relay-auth.js';
import { RelaySource } from './relay-source.js';

export interface RelayOptions {
  /** Base URL of the upstream server or relay. */
  upstream: string;
  /** The `sdk-server` key the relay follows its upstream with; it sets the environment and namespaces. */
  sdkKey: string;
  /** The region label of the relay's metrics. */
  region: string;
  /** The LMDB directory of its last known good data. */
  data: string;
  port: number;
  host: string;
  /** Namespace selectors to relay (all the key may read when absent). */
  namespaces?: readonly string[];
  heartbeatMs?: number;
  logLevel?: string | false;
  /** Where log lines go (standard output when absent). */
  logStream?: { write(line: string): void };
  /** Origins browsers may call OFREP, the delivery routes and exposures from (none by default: no CORS). */
  corsOrigins?: readonly string[];
  /** Settings of the upstream feed (retry timings, say). */
  feed?: Partial<UpstreamFeedOptions>;
}

/** Routes that answer from the relay's data: without data they answer 503, never an empty answer. */
const SERVED_FROM_DATA = ['/sdk/v1/snapshot', '/sdk/v1/stream', '/ofrep/v1/evaluate/'] as const;

/** Longest answer of the upstream to passed-on exposures: a count of what it took, a problem at most. */
const MAX_EXPOSURES_ANSWER_BYTES = 64 * 1024;

export type CircuitState = 'closed' | 'half-open' | 'open';
const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface RunningRelay {
  address: string;
  app: FastifyInstance;
  environment: string;
  circuit(): CircuitState;
  /** Seconds since the upstream was last heard from, plus its own staleness (0 when current). */
  staleSeconds(): number;
  close(): Promise<void>;
}

/**
 * The environment of the relay's key, asked of the upstream; when the upstream cannot say (unreachable,
 * or an answer that is not a key's description), why. Throws when the upstream refuses the key.
 */
async function environmentOfKey(
  upstream: string,
  sdkKey: string,
): Promise<{ environment: string } | { unknown: string }> {
  const answer = await whoAmI(upstream, `Bearer ${sdkKey}`, 5000);
  if (answer.kind === 'unreachable') return { unknown: `cannot reach its upstream ${upstream}` };
  if (answer.kind === 'invalid') return { unknown: answer.reason };
  if (answer.kind === 'refused') {
    throw new Error(`the upstream refused the relay's --sdk-key (HTTP ${answer.status})`);
  }
  const { environments } = answer.who;
  if (environments.length !== 1) {
    throw new Error(`the relay's --sdk-key must belong to one environment (it has ${environments.length})`);
  }
  return { environment: environments[0]! };
}

export async function startRelay(
  options: RelayOptions,
  print: (line: string) => void = console.log,
): Promise<RunningRelay> {
  const dir = resolve(options.data);
  mkdirSync(dir, { recursive: true });
  // The same limits as the server's: header, request and keep-alive timeouts, a connection cap, the
  // default body limit, JSON depth and UTF-8 checks, and problems for requests the parser refuses.
  const limits = httpLimits();
  const app = Fastify({
    ...limitedServerOptions(limits),
    logger:
      options.logLevel === false
        ? false
        : {
            level: options.logLevel ?? 'info',
            ...(options.logStream === undefined ? {} : { stream: options.logStream }),
          },
  });
  app.setErrorHandler((error, request, reply) => sendProblem(error, request, reply));
  capConnections(app.server, limits);
  useJsonBodyParser(app, limits.jsonDepth);
  // The upstream is asked first: a key it refuses stops the relay before its copy is touched.
  const asked = await environmentOfKey(options.upstream, options.sdkKey);
  const store = await openRelayStore(dir, options.sdkKey, 'environment' in asked, (line) =>
    app.log.error(line),
  );
  const clock = Date.now;
  const stored = store.environment;
  const environment = 'environment' in asked ? asked.environment : stored;
  if (environment === undefined) {
    await store.close();
    const why = 'unknown' in asked ? asked.unknown : '';
    throw new Error(`the relay has no data in ${dir}, and ${why}; start it once with the upstream up`);
  }
  if (stored !== undefined && stored !== environment) {
    await store.close();
    throw new Error(
      `${dir} holds environment "${stored}", but the key is for "${environment}": use another --data`,
    );
  }
  if (stored === undefined) await store.setEnvironment(environment);

  // The positions on disk, which the feed resumes from.
  const initialPositions = store.allPositions();
  // Upstream health, as the circuit breaker and staleness report it.
  let circuit: CircuitState = 'half-open';
  let lastHeard = store.size > 0 ? 0 : clock();
  let upstreamStale = 0;
  const staleSeconds = () =>
    circuit === 'closed' ? upstreamStale : Math.round((clock() - lastHeard) / 1000) + upstreamStale;

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, labels: { region: options.region } });

  let delivery: ReturnType<typeof mountDelivery> | undefined;
  const source = new RelaySource(store, environment, (committedAt) => {
    lastHeard = clock();
    delivery?.metrics.lag.observe(
      { region: options.region, environment },
      Math.max(0, clock() - committedAt) / 1000,
    );
  });
  delivery = mountDelivery(app, {
    source,
    authenticate: relayAuthenticator({ upstream: options.upstream, store, environment, clock }),
    registry,
    clock,
    region: options.region,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    health: () => ({ stale: circuit !== 'closed' || upstreamStale > 0, staleSeconds: staleSeconds() }),
    ...(options.corsOrigins === undefined ? {} : { corsOrigins: options.corsOrigins }),
  });
  const { metrics } = delivery;
  // After the key is checked (the routes' onRequest), before the route reads the data.
  app.addHook('preHandler', async (request) => {
    if (source.hasData) return;
    const route = request.routeOptions.url ?? '';
    if (!SERVED_FROM_DATA.some((prefix) => route.startsWith(prefix))) return;
    throw new HttpProblem(
      503,
      'Service Unavailable',
      'this relay has no data yet: its upstream has not sent a snapshot it accepts; retry later',
      {},
      { 'retry-after': '5' },
    );
  });
  if ('unknown' in asked) {
    app.log.warn(
      `relay: the upstream could not say whose the relay's key is (${asked.unknown}); serving the data in ${dir} for environment "${environment}" while it retries`,
    );
  }
  metrics.staleness.set({ region: options.region }, 0);
  const setCircuit = (next: CircuitState) => {
    if (next !== circuit) app.log.info({ from: circuit, to: next }, 'relay: upstream circuit');
    circuit = next;
    metrics.upstreamState.set({ region: options.region }, CIRCUIT_VALUE[next]);
  };

  const feed = new UpstreamFeed({
    url: options.upstream,
    sdkKey: options.sdkKey,
    environment,
    ...(options.namespaces ? { namespaces: options.namespaces } : {}),
    // No positions ({}) start the feed as none given would.
    initialPositions,
    ...options.feed,
  });
  feed.on('snapshot', (event) => {
    lastHeard = clock();
    source.snapshot(event);
  });
  feed.on('patch', (event) => source.patch(event));
  feed.on('heartbeat', (event) => {
    lastHeard = clock();
    upstreamStale = event.stale ? (event.staleSeconds ?? 0) : 0;
  });
  feed.on('state', (event) => {
    if (event.state === 'streaming' || event.state === 'polling') {
      lastHeard = clock();
      setCircuit('closed');
    } else if (event.state === 'disconnected') {
      setCircuit('open');
      app.log.warn(
        { err: event.error?.message, retryInMs: event.retryInMs },
        'relay: upstream unreachable; serving the last known good data',
      );
    } else if (event.state === 'connecting' && circuit === 'open') setCircuit('half-open');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const namespaces = store.size;
    const body = {
      status: 'ready',
      role: 'relay',
      region: options.region,
      environment,
      upstream: circuit,
      staleSeconds: staleSeconds(),
      namespaces,
    };
    if (!source.hasData) return reply.code(503).send({ ...body, status: 'unavailable' });
    return body;
  });
  app.get('/metrics', async (_request, reply) => {
    metrics.staleness.set({ region: options.region }, staleSeconds());
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  // Exposures go on to the upstream as they came, with the SDK's own key; its answer is passed back.
  app.post('/events/v1', { bodyLimit: 1024 * 1024 }, async (request, reply) => {
    const authorization = credentials(request);
    let response: Response;
    let body: Buffer;
    try {
      response = await fetch(`${options.upstream.replace(/\/+$/, '')}/events/v1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(request.body),
        signal: AbortSignal.timeout(5000),
      });
      body = await readBody(response, { maxBytes: MAX_EXPOSURES_ANSWER_BYTES, what: 'exposures answer' });
    } catch (error) {
      if (error instanceof UpstreamError) {
        throw new HttpProblem(
          502,
          'Bad Gateway',
          `the relay's upstream answered exposures badly: ${error.message}`,
        );
      }
      throw new HttpProblem(
        503,
        'Service Unavailable',
        'the relay cannot reach its upstream to pass exposures on; retry later',
        {},
        { 'retry-after': '5' },
      );
    }
    return reply
      .code(response.status)
      .type(response.headers.get('content-type') ?? 'application/json')
      .send(body);
  });

  const address = await app.listen({ port: options.port, host: options.host });
  feed.start();
  print(
    `Switchyard relay on ${address} (region ${options.region}, environment ${environment}, upstream ${options.upstream}, data in ${dir})`,
  );
  return {
    address,
    app,
    environment,
    circuit: () => circuit,
    staleSeconds,
    async close() {
      await feed.close();
      await app.close();
      await store.close();
    },
  };
}
