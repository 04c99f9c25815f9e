/**
 * The control-plane HTTP application: Fastify with the v1 API, authentication on every control-plane
 * route (decided by the routed path, before any body is read), limits on time, connections and bodies,
 * problem+json errors, OpenAPI 3.1 at `/openapi.json` and `/docs`, health, readiness and metrics.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { names } from '@switchyard/core';
import { type FlagStore, MAX_REASON_CHARS, SYSTEM_NAMESPACE } from '@switchyard/store';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { adminRoutes } from './api/admin.js';
import { applyRoutes } from './api/apply.js';
import { flagRoutes } from './api/flags.js';
import { rawKeyRoutes } from './api/raw-keys.js';
import { segmentRoutes } from './api/segments.js';
import { cachedAuthenticator } from './delivery/auth.js';
import { mountDelivery } from './delivery/mount.js';
import { StoreSource } from './delivery/store-source.js';
import { type ExposureOptions, exposureRoutes } from './exposures/routes.js';
import { authenticate, authorize, type Principal } from './governance/access.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimitOptions } from './governance/rate-limits.js';
import { useJsonBodyParser } from './http/json-body.js';
import {
  capConnections,
  type HttpLimits,
  httpLimits,
  limitedServerOptions,
  MAX_IDEMPOTENCY_KEY_CHARS,
} from './http/limits.js';
import { accessOf, actFor } from './http/route-access.js';
import { createMetrics, type Metrics } from './metrics.js';
import { addComponents } from './openapi/components.js';
import { json, serializeAsIs } from './openapi/responses.js';
import { badRequest, HttpProblem, sendProblem } from './problems.js';

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
  /** Timeouts, connection and body limits (see http/limits.ts); each defaults to a safe value. */
  limits?: Partial<HttpLimits>;
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

const readiness = (status: 'ready' | 'unavailable') => ({
  type: 'object',
  required: ['status', 'store'],
  properties: {
    status: { const: status },
    store: { type: 'string', description: 'the kind of store: `lmdb` or `redis`' },
    ...(status === 'ready'
      ? {}
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

const noRoute = (request: FastifyRequest) =>
  new HttpProblem(404, 'Not Found', `no route ${request.method} ${request.url}`);

/**
 * The longest query-string value of a control-plane route: four times the longest name of names.ts (a
 * flag key), room for an opaque cursor that carries one, and far below what a store key may hold.
 */
const MAX_QUERY_VALUE_CHARS = 4 * names.FLAG_KEY.maxLength;

/** Refuses (400) a control-plane request's query values and headers over their limits, before its body. */
function checkRequestLine(request: FastifyRequest): void {
  for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === 'string' && item.length > MAX_QUERY_VALUE_CHARS) {
        throw badRequest(`querystring/${name}: a value has at most ${MAX_QUERY_VALUE_CHARS} characters`);
      }
    }
  }
  const reason = request.headers['x-change-reason'];
  if (typeof reason === 'string' && reason.length > MAX_REASON_CHARS) {
    throw badRequest(`X-Change-Reason: a change reason has at most ${MAX_REASON_CHARS} characters`);
  }
  const key = request.headers['idempotency-key'];
  if (typeof key === 'string' && key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw badRequest(`Idempotency-Key: a key has at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`);
  }
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { store } = options;
  const clock = options.clock ?? Date.now;
  const limits = httpLimits(options.limits);
  const app = Fastify({
    ...limitedServerOptions(limits, options.tls),
    // A flag key in a path, every "/" percent-encoded, fits; the route's schema checks the rest.
    routerOptions: { maxParamLength: 3 * names.FLAG_KEY.maxLength },
    // Errors of the router (a malformed or over-long URL) are problems like every other.
    frameworkErrors: (error, request, reply) => sendProblem(error, request, reply),
    logger: options.logger ?? false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  // Response schemas document the API; bodies are serialized as they are (see openapi/responses.ts).
  app.setSerializerCompiler(serializeAsIs);
  addComponents(app);
  capConnections(app.server, limits);
  useJsonBodyParser(app, limits.jsonDepth);

  // Every route gets its access rule and body limit when it is registered (see http/route-access.ts).
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const rules = new Set(methods.map((method) => accessOf(method, route.url)));
    const access = route.config?.access ?? (rules.size === 1 ? [...rules][0] : undefined);
    if (access === undefined) {
      throw new Error(`route ${methods.join(',')} ${route.url} has no access rule (http/route-access.ts)`);
    }
    route.config = { ...route.config, access };
    if (route.url === '/api/v1/apply') route.bodyLimit = limits.applyBodyBytes;
  });

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
  app.setNotFoundHandler((request, reply) => sendProblem(noRoute(request), request, reply));

  app.addHook('onRequest', async (request) => {
    // A span per request, through the OpenTelemetry API: a no-op unless the process installs an SDK.
    spans.set(
      request,
      tracer.startSpan(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, {
        attributes: { 'http.request.method': request.method },
      }),
    );
    // Before any body is read: an unknown route, a missing token or too small a role is refused here,
    // by the route Fastify matched (never by the raw URL's spelling).
    if (request.is404) throw noRoute(request);
    const access = request.routeOptions.config.access;
    if (access !== 'public' && access !== 'delivery') {
      const principal = await authenticate(store, request.headers.authorization, clock());
      authorize(principal, actFor(access ?? 'admin'));
      request.principal = principal;
      checkRequestLine(request);
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
          200: json(readiness('ready'), 'Ready: the store answers'),
          503: json(readiness('unavailable'), 'Not ready: the store does not answer'),
        },
      },
    },
    async (_request, reply) => {
      try {
        await store.adapter.ledgerHead(SYSTEM_NAMESPACE);
        return { status: 'ready', store: store.adapter.kind };
      } catch (error) {
        return reply
          .code(503)
          .send({ status: 'unavailable', store: store.adapter.kind, detail: (error as Error).message });
      }
    },
  );
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
  rawKeyRoutes(app, deps);
  exposureRoutes(app, { ...deps, metrics, ...options.exposures });
  return app;
}
