/**
 * Running the control plane: open the store (LMDB in a directory, or Redis), bootstrap it on first start,
 * and listen. The `switchyard serve` command is a thin layer over this.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  FlagStore,
  keyring,
  LmdbAdapter,
  parseKey,
  RedisAdapter,
  type StoreAdapter,
} from '@switchyard/store';
import { buildServer } from './app.js';
import { bootstrap } from './governance/bootstrap.js';
import { DEFAULT_RATE_LIMITS, type Limit } from './governance/rate-limits.js';
import type { HttpLimits } from './http/limits.js';
import { createMetrics } from './metrics.js';

export interface ServeOptions {
  port: number;
  host: string;
  /** LMDB directory, used when `store` is not given. */
  data: string;
  /** `redis://host:port` or `redis-cluster://host:port,…`. */
  store?: string;
  /** Replicas that must acknowledge each change on a Redis Cluster. */
  waitReplicas: number;
  /** PEM files for HTTPS. */
  tls?: { cert: string; key: string };
  /** Changes per second per token and per namespace (bursts of twice that); 0 for none; absent for the default. */
  rateLimitPerToken?: number;
  rateLimitPerNamespace?: number;
  /** OFREP evaluations per second per key; 0 or absent for none. */
  rateLimitEvaluations?: number;
  /** The region label of delivery metrics. */
  region?: string;
  /** The first admin token's value; made up and printed once when absent. */
  adminToken?: string;
  /** Keys for sensitive values (64 hex digits or base64 of 32 bytes), the first sealing. */
  masterKeys: string[];
  /** POST every accepted batch of exposure events to this URL (JSON, batched, retried with backoff). */
  exposuresWebhook?: string;
  /** Append every accepted exposure event to this file, one JSON object a line. */
  exposuresFile?: string;
  logLevel: string;
  /** Timeouts, connection and body limits; each absent one keeps its default (see http/limits.ts). */
  limits?: Partial<HttpLimits>;
}

export interface Running {
  address: string;
  close(): Promise<void>;
}

function limit(perSecond: number | undefined, fallback: Limit): Limit | undefined {
  if (perSecond === undefined) return fallback;
  return perSecond === 0 ? undefined : { perSecond, burst: 2 * perSecond };
}

/** Starts the server; `print` receives what a person starting it should read (the admin token among it). */
export async function serve(
  options: ServeOptions,
  print: (line: string) => void = console.log,
): Promise<Running> {
  let adapter: StoreAdapter;
  if (options.store === undefined) {
    const dir = resolve(options.data);
    mkdirSync(dir, { recursive: true });
    adapter = new LmdbAdapter({ path: dir });
  } else {
    const cluster = options.store.startsWith('redis-cluster://');
    adapter = new RedisAdapter({ url: options.store, waitReplicas: cluster ? options.waitReplicas : 0 });
  }
  const encryptionKeys =
    options.masterKeys.length > 0 ? keyring(options.masterKeys.map(parseKey)) : undefined;
  const metrics = createMetrics();
  const store = new FlagStore(adapter, {
    observe: metrics.observeStore,
    ...(encryptionKeys ? { encryptionKeys } : {}),
  });
  const first = await bootstrap(store, options.adminToken);
  const actor = limit(options.rateLimitPerToken, DEFAULT_RATE_LIMITS.actor);
  const namespace = limit(options.rateLimitPerNamespace, DEFAULT_RATE_LIMITS.namespace);
  const app = await buildServer({
    store,
    metrics,
    rateLimits: { ...(actor ? { actor } : {}), ...(namespace ? { namespace } : {}) },
    logger: { level: options.logLevel },
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    exposures: {
      ...(options.exposuresWebhook ? { webhook: options.exposuresWebhook } : {}),
      ...(options.exposuresFile ? { file: resolve(options.exposuresFile) } : {}),
    },
    ...(options.tls
      ? { tls: { cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } }
      : {}),
    delivery: {
      ...(options.region ? { region: options.region } : {}),
      ...(options.rateLimitEvaluations ? { evaluationsPerSecond: options.rateLimitEvaluations } : {}),
    },
  });
  const address = await app.listen({ port: options.port, host: options.host });

  const where =
    options.store === undefined ? `LMDB in ${resolve(options.data)}` : options.store.replace(/\/\/.*@/, '//');
  print(`Switchyard control plane on ${address} (store: ${where})`);
  if (first.environments.length > 0) {
    print(`Created environments: ${first.environments.join(', ')} (production is protected)`);
  }
  if (first.adminToken !== undefined && options.adminToken === undefined) {
    print(`\nAdmin token (shown once; keep it safe):\n\n  ${first.adminToken}\n`);
  }
  if (options.exposuresWebhook) print(`Forwarding exposure events to ${options.exposuresWebhook}`);
  if (options.exposuresFile) print(`Appending exposure events to ${resolve(options.exposuresFile)}`);
  print(`API docs: ${address}/docs`);
  return {
    address,
    async close() {
      await app.close();
      await store.close();
    },
  };
}
