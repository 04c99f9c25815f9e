/**
 * Delivery mounted on a Fastify app: the hub over a source, streams, the snapshot, stream, whoami and
 * OFREP routes, and their metrics. The server mounts it over its store; a relay over its upstream.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { RateLimiter } from '../governance/rate-limits.js';
import { addComponents, Problem } from '../openapi/components.js';
import type { Authenticator } from './auth.js';
import { deliveryCors } from './cors.js';
import { DEFAULT_MAX_IDLE_VIEWS, DeliveryHub } from './hub.js';
import { createDeliveryMetrics, type DeliveryMetrics } from './metrics.js';
import { ofrepRoutes } from './ofrep.js';
import { deliveryRoutes } from './routes.js';
import type { DeliverySource } from './source.js';
import { Streams } from './stream.js';

export interface MountOptions {
  source: DeliverySource;
  authenticate: Authenticator;
  registry: Registry;
  clock: () => number;
  /** The region label of the metrics. */
  region: string;
  heartbeatMs: number;
  /** How stale the data is; always fresh on a server, which reads its store. */
  health?: () => { stale: boolean; staleSeconds: number };
  /** OFREP evaluations per second per key (bursts of twice that); none when absent. */
  evaluationsPerSecond?: number;
  /** Limits of streams and views; each has a default (`DELIVERY_LIMITS`). */
  limits?: Partial<DeliveryLimits>;
  /** Origins browsers may call OFREP, the delivery routes and exposures from (none by default: no CORS). */
  corsOrigins?: readonly string[];
}

export interface DeliveryLimits {
  /** Bytes a slow stream may leave unsent before it is closed (it reconnects and resumes). */
  maxBufferedBytes: number;
  /** Unsent bytes across all streams beyond which a stream adding to them is closed. */
  maxTotalBufferedBytes: number;
  /** Streams one key may have open (429 beyond). */
  maxStreamsPerKey: number;
  /** Streams open in all (503 beyond). */
  maxStreams: number;
  /** Milliseconds between checks of the keys of open streams (a revoked key's streams end). */
  keyCheckMs: number;
  /** Views no stream holds that are kept in memory (least recently used evicted first). */
  maxIdleViews: number;
}

export const DELIVERY_LIMITS: DeliveryLimits = {
  // Well above a snapshot part (a chunk of lines) and many patches; a reader this far behind reconnects.
  maxBufferedBytes: 8 * 1024 * 1024,
  maxTotalBufferedBytes: 512 * 1024 * 1024,
  // SDKs of one service share a key: a process holds one stream, so this is processes per key.
  maxStreamsPerKey: 2000,
  maxStreams: 20_000,
  keyCheckMs: 2000,
  maxIdleViews: DEFAULT_MAX_IDLE_VIEWS,
};

export interface MountedDelivery {
  hub: DeliveryHub;
  streams: Streams;
  metrics: DeliveryMetrics;
}

export function mountDelivery(app: FastifyInstance, options: MountOptions): MountedDelivery {
  const { region, clock } = options;
  const limits = { ...DELIVERY_LIMITS, ...options.limits };
  let hub: DeliveryHub | undefined;
  const metrics = createDeliveryMetrics(
    options.registry,
    region,
    () => hub?.stats() ?? { views: 0, records: 0 },
  );
  hub = new DeliveryHub(options.source, {
    clock,
    maxIdleViews: limits.maxIdleViews,
    observer: {
      applied: (environment, lagMs) =>
        metrics.lag.observe({ region, environment }, Math.max(0, lagMs) / 1000),
      error: (error) => app.log.warn({ err: error }, 'delivery: loading a namespace failed'),
    },
  });
  const streams = new Streams(
    hub,
    {
      heartbeatMs: options.heartbeatMs,
      maxBufferedBytes: limits.maxBufferedBytes,
      maxTotalBufferedBytes: limits.maxTotalBufferedBytes,
      maxStreamsPerKey: limits.maxStreamsPerKey,
      maxStreams: limits.maxStreams,
      keyCheckMs: limits.keyCheckMs,
      checkKey: options.authenticate.fresh ?? options.authenticate,
      clock,
      health: options.health ?? (() => ({ stale: false, staleSeconds: 0 })),
    },
    metrics,
  );
  // Streams never go idle: end them before the server waits for its connections to close.
  app.addHook('preClose', async () => streams.close());
  app.addHook('onClose', async () => hub.close());
  const limiter =
    options.evaluationsPerSecond === undefined
      ? undefined
      : new RateLimiter(
          { actor: { perSecond: options.evaluationsPerSecond, burst: 2 * options.evaluationsPerSecond } },
          clock,
          'evaluations',
        );
  const deps = { hub, streams, authenticate: options.authenticate, clock, ...(limiter ? { limiter } : {}) };
  // The routes' error responses reference it, on a relay's app as on the server's.
  addComponents(app, [Problem]);
  deliveryCors(app, options.corsOrigins ?? []);
  deliveryRoutes(app, deps);
  ofrepRoutes(app, deps, metrics);
  return { hub, streams, metrics };
}
