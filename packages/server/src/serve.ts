/**
 * Running the control plane: open the store (LMDB in a directory, or Redis), listen, then bootstrap it on
 * first start. Listening comes first so that a start that cannot bind its port creates no admin token it
 * cannot show. What a person can fix (busy port, malformed admin token, data directory) fails with a
 * StartupError. The `switchyard serve` command is a thin layer over this.
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
import { adminTokenProblem, bootstrap } from './governance/bootstrap.js';
import { DEFAULT_RATE_LIMITS, type Limit } from './governance/rate-limits.js';
import type { HttpLimits } from './http/limits.js';
import { createMetrics } from './metrics.js';
import { dataFailure, listenFailure, StartupError } from './startup-error.js';

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
  /** Origins browsers may call OFREP, /sdk/v1/* and /events/v1 from (CORS); none by default. */
  corsOrigins?: string[];
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
  /**
   * Scrub the whole store once it serves: every page, record and ledger, in the background. Off by
   * default, since it reads everything (minutes at millions of flags); without it, the meta pages are
   * checked before the file is mapped and each record's checksum when it is read.
   */
  verifyStore?: boolean;
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
  if (options.adminToken !== undefined) {
    const problem = adminTokenProblem(options.adminToken);
    if (problem !== undefined) throw new StartupError(problem);
  }
  let encryptionKeys: ReturnType<typeof keyring> | undefined;
  try {
    encryptionKeys = options.masterKeys.length > 0 ? keyring(options.masterKeys.map(parseKey)) : undefined;
  } catch (error) {
    // The keys are never repeated in the message.
    throw new StartupError(`SWITCHYARD_MASTER_KEY: ${(error as Error).message}`);
  }
  let adapter: StoreAdapter;
  if (options.store === undefined) {
    const dir = resolve(options.data);
    try {
      mkdirSync(dir, { recursive: true });
      adapter = new LmdbAdapter({ path: dir });
    } catch (error) {
      throw dataFailure(dir, error);
    }
  } else {
    const cluster = options.store.startsWith('redis-cluster://');
    adapter = new RedisAdapter({ url: options.store, waitReplicas: cluster ? options.waitReplicas : 0 });
  }
  const metrics = createMetrics();
  const store = new FlagStore(adapter, {
    observe: metrics.observeStore,
    ...(encryptionKeys ? { encryptionKeys } : {}),
  });
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
      ...(options.corsOrigins?.length ? { corsOrigins: options.corsOrigins } : {}),
      ...(options.rateLimitEvaluations ? { evaluationsPerSecond: options.rateLimitEvaluations } : {}),
    },
  });
  const stop = async () => {
    await app.close();
    await store.close();
  };
  let address: string;
  try {
    address = await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    await stop();
    throw listenFailure(error, options.host, options.port);
  }
  const first = await bootstrap(store, options.adminToken).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  if (options.verifyStore === true) {
    // Damage anywhere in the store, looked for in the background: /readyz says degraded, writes fail closed.
    void store.check().catch((error) => app.log.warn({ err: error }, 'checking the store for damage failed'));
  }

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
    close: stop,
  };
}
