/**
 * The control-plane HTTP application: Fastify with the v1 API, authentication on every `/api/` route,
 * problem+json errors, OpenAPI 3.1 at `/openapi.json` and `/docs`, health, readiness and metrics.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { type FlagStore, SYSTEM_NAMESPACE } from '@switchyard/store';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { adminRoutes } from './api/admin.js';
import { applyRoutes } from './api/apply.js';
import { flagRoutes } from './api/flags.js';
import { segmentRoutes } from './api/segments.js';
import { cachedAuthenticator } from './delivery/auth.js';
import { mountDelivery } from './delivery/mount.js';
import { StoreSource } from './delivery/store-source.js';
import { type ExposureOptions, exposureRoutes } from './exposures/routes.js';
import { authenticate, type Principal } from './governance/access.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimitOptions } from './governance/rate-limits.js';
import { createMetrics, type Metrics } from './metrics.js';
import { addComponents } from './openapi/components.js';
import { json, serializeAsIs } from './openapi/responses.js';
import { HttpProblem, sendProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface ServerOptions {
  store: FlagStore;
  /** Fastify's logger setting: `false` in tests, pino options otherwise. */
  logger?: FastifyServerOptions['logger'];
  clock?: () => number;
  /** Largest request body, in bytes. */
  bodyLimit?: number;
  /** Limits on changes per token and per namespace; `false` turns them off. */
  rateLimits?: RateLimitOptions | false;
  /** The metrics to register into (create them first to also pass `observeStore` to the store). */
  metrics?: Metrics;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: Buffer; cert: Buffer };
  /** Exposure events (`POST /events/v1`): aggregation and forwarding sinks. */
  exposures?: ExposureOptions;
  /** Delivery (snapshot, stream, OFREP) settings. */
  delivery?: DeliveryOptions;
}

export interface DeliveryOptions {
  /** The region label of this process's delivery metrics; `central` by default. */
  region?: string;
  /** Milliseconds between stream heartbeats (15 s by default). */
  heartbeatMs?: number;
  /** How long a key's authentication is cached on delivery routes (5 s by default). */
  authCacheMs?: number;
  /** OFREP evaluations per second per key; unlimited when absent. */
  evaluationsPerSecond?: number;
  /** Bytes a slow stream may leave unsent before it is closed (64 MiB by default). */
  maxBufferedBytes?: number;
}

const VERSION = '0.1.0';

function landingPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchyard</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2rem}</style>
</head><body><h1>Switchyard is running</h1>
<p>Switchyard ${VERSION}: the control plane (flags, environments, tokens and the change ledger, over a REST API) and delivery to SDKs, relays and OpenFeature.</p>
<ul><li><a href="/docs">API documentation</a> (OpenAPI 3.1: <a href="/openapi.json">/openapi.json</a>)</li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a></li></ul>
<p>Every <code>/api/v1</code> call needs <code>Authorization: Bearer &lt;token&gt;</code>; the first start printed an admin token.</p>
<p>SDKs and relays read <code>/sdk/v1/snapshot</code> and <code>/sdk/v1/stream</code> with an <code>sdk-server</code> key; any OpenFeature SDK evaluates through OFREP at <code>/ofrep/v1/evaluate/flags</code> (create keys with <code>POST /api/v1/tokens</code>).</p>
<p>The web UI comes later; until then, this page.</p></body></html>`;
}

const HEALTHY = {
  type: 'object',
  required: ['status'],
  properties: { status: { const: 'ok' } },
  additionalProperties: false,
};

const readiness = (status: 'ready' | 'degraded' | 'unavailable') => ({
  type: 'object',
  required: ['status', 'store', ...(status === 'ready' ? [] : ['detail'])],
  properties: {
    status: status === 'unavailable' ? { const: status } : { enum: ['ready', 'degraded'] },
    store: { type: 'string', description: 'the kind of store: `lmdb` or `redis`' },
    ...(status === 'ready'
      ? {
          detail: {
            type: 'string',
            description:
              'when degraded: the damage found (records failing their checksums, ledgers not verifying)',
          },
          damagedNamespaces: {
            type: 'array',
            items: { type: 'string' },
            description: 'when degraded: namespaces refused writes until the store is repaired',
          },
        }
      : { detail: { type: 'string', description: 'why the store does not answer' } }),
  },
  additionalProperties: false,
});

/** The namespace a change is about: from the flag key in the path, or in the body. */
function namespaceOf(request: FastifyRequest): string | undefined {
  const key =
    (request.params as { key?: unknown } | undefined)?.key ??
    (request.body as { key?: unknown } | undefined)?.key;
  if (typeof key !== 'string' || !key.includes('/')) return undefined;
  return key.slice(0, key.lastIndexOf('/'));
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { store } = options;
  const clock = options.clock ?? Date.now;
  const app = Fastify({
    ...(options.tls === undefined ? {} : { https: options.tls }),
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  // Response schemas document the API; bodies are serialized as they are (see openapi/responses.ts).
  app.setSerializerCompiler(serializeAsIs);
  addComponents(app);

  const metrics = options.metrics ?? createMetrics();
  const { registry } = metrics;
  const tracer = trace.getTracer('switchyard-server', VERSION);
  const spans = new WeakMap<FastifyRequest, Span>();
  const requestTimers = new Map<string, { observe(seconds: number): void }>();

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof HttpProblem && error.status === 401) metrics.authFailures.inc();
    if ((error as { name?: string }).name === 'ConflictError') metrics.conflicts.inc();
    return sendProblem(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      new HttpProblem(404, 'Not Found', `no route ${request.method} ${request.url}`),
      request,
      reply,
    ),
  );

  app.addHook('onRequest', async (request) => {
    // A span per request, through the OpenTelemetry API: a no-op unless the process installs an SDK.
    spans.set(
      request,
      tracer.startSpan(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, {
        attributes: { 'http.request.method': request.method },
      }),
    );
    if (request.url.startsWith('/api/')) {
      request.principal = await authenticate(store, request.headers.authorization, clock());
    }
  });
  const limiter =
    options.rateLimits === false
      ? undefined
      : new RateLimiter(options.rateLimits ?? DEFAULT_RATE_LIMITS, clock);
  app.addHook('preHandler', async (request) => {
    if (limiter === undefined || request.method === 'GET' || request.principal === undefined) return;
    try {
      limiter.take(request.principal.tokenId, namespaceOf(request));
    } catch (error) {
      metrics.rateLimited.inc();
      throw error;
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    const labels = `${route} ${request.method} ${reply.statusCode}`;
    let timer = requestTimers.get(labels);
    if (timer === undefined) {
      // perf: a histogram child per route × method × status, bound once rather than hashed per request.
      timer = metrics.requests.labels({ route, method: request.method, status: String(reply.statusCode) });
      if (requestTimers.size < 10_000) requestTimers.set(labels, timer);
    }
    timer.observe(reply.elapsedTime / 1000);
    if (request.method !== 'GET' && reply.statusCode < 300 && route.startsWith('/api/')) {
      metrics.changes.inc({ method: request.method });
    }
    const span = spans.get(request);
    if (span !== undefined) {
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchyard control plane',
        version: VERSION,
        description: 'REST API v1 of Switchyard.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas appear in `components.schemas` under their `$id` (openapi/components.ts).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html').send(landingPage()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Whether the process is up',
        security: [],
        response: { 200: json(HEALTHY, 'Up') },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Whether the store answers',
        security: [],
        response: {
          200: json(
            readiness('ready'),
            'Ready: the store answers; "degraded" when damage was found (what verifies is served, damaged namespaces refuse writes)',
          ),
          503: json(readiness('unavailable'), 'Not ready: the store does not answer'),
        },
      },
    },
    async (_request, reply) => {
      try {
        await store.adapter.ledgerHead(SYSTEM_NAMESPACE);
        const { damage, namespaces } = store.integrity.report();
        if (damage.length === 0) return { status: 'ready', store: store.adapter.kind };
        return {
          status: 'degraded',
          store: store.adapter.kind,
          detail: damage
            .slice(0, 10)
            .map((d) => `${d.namespace}${d.kind === 'record' ? `:${d.path}` : ` ${d.kind}`}: ${d.detail}`)
            .join('; '),
          damagedNamespaces: namespaces,
        };
      } catch (error) {
        return reply
          .code(503)
          .send({ status: 'unavailable', store: store.adapter.kind, detail: (error as Error).message });
      }
    },
  );
  const stopDamage = store.integrity.onDamage((damage) => {
    metrics.storeDamage.inc({ kind: damage.kind });
    app.log.error({ damage }, 'damage found in the store; its namespace refuses writes');
  });
  app.addHook('onClose', async () => stopDamage());
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );

  mountDelivery(app, {
    source: new StoreSource(store, (error) =>
      app.log.warn({ err: error }, 'delivery: reading the change feed failed'),
    ),
    authenticate: cachedAuthenticator(
      (header) => authenticate(store, header, clock()),
      clock,
      options.delivery?.authCacheMs ?? 5000,
    ),
    registry,
    clock,
    region: options.delivery?.region ?? 'central',
    heartbeatMs: options.delivery?.heartbeatMs ?? 15_000,
    ...(options.delivery?.maxBufferedBytes === undefined
      ? {}
      : { maxBufferedBytes: options.delivery.maxBufferedBytes }),
    ...(options.delivery?.evaluationsPerSecond === undefined
      ? {}
      : { evaluationsPerSecond: options.delivery.evaluationsPerSecond }),
  });

  const deps = { store, clock };
  flagRoutes(app, deps);
  segmentRoutes(app, deps);
  applyRoutes(app, deps);
  adminRoutes(app, deps);
  exposureRoutes(app, { ...deps, metrics, ...options.exposures });
  return app;
}
