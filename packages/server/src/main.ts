/**
 * `switchyard serve`: the control-plane server on LMDB under `./data` by default, or on Redis.
 *
 *   --port 8080   --host 127.0.0.1   --data ./data
 *   --store redis://host:port | redis-cluster://host:port,host:port   (instead of LMDB)
 *   --tls-cert cert.pem --tls-key key.pem                             (HTTPS)
 *   --rate-limit-per-token N --rate-limit-per-namespace N             (changes/s; 0 for none)
 *
 * Environment: SWITCHYARD_ADMIN_TOKEN (the first admin token), SWITCHYARD_MASTER_KEY or
 * SWITCHYARD_MASTER_KEY_FILE (keys for sensitive values), LOG_LEVEL, PORT, HOST.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
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
import { createMetrics } from './metrics.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    data: { type: 'string', default: './data' },
    store: { type: 'string' },
    'wait-replicas': { type: 'string', default: '1' },
    'tls-cert': { type: 'string' },
    'rate-limit-per-token': { type: 'string' },
    'rate-limit-per-namespace': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: "${values.port}" is not a port number`);
  process.exit(2);
}

let adapter: StoreAdapter;
if (values.store === undefined) {
  const dir = resolve(values.data);
  mkdirSync(dir, { recursive: true });
  adapter = new LmdbAdapter({ path: dir });
} else {
  const cluster = values.store.startsWith('redis-cluster://');
  adapter = new RedisAdapter({
    url: values.store,
    waitReplicas: cluster ? Number(values['wait-replicas']) : 0,
  });
}
// Keys for sensitive variation values: SWITCHYARD_MASTER_KEY, or a file of keys, one a line, the first sealing
// (the others still open older values, for rotation).
const keyFile = process.env.SWITCHYARD_MASTER_KEY_FILE;
const keyTexts = keyFile
  ? readFileSync(keyFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
  : process.env.SWITCHYARD_MASTER_KEY
    ? [process.env.SWITCHYARD_MASTER_KEY]
    : [];
const encryptionKeys = keyTexts.length > 0 ? keyring(keyTexts.map(parseKey)) : undefined;
const metrics = createMetrics();
const store = new FlagStore(adapter, {
  observe: metrics.observeStore,
  ...(encryptionKeys ? { encryptionKeys } : {}),
});
const first = await bootstrap(store, process.env.SWITCHYARD_ADMIN_TOKEN || undefined);
if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
  console.error('--tls-cert and --tls-key go together: give both (PEM files) or neither');
  process.exit(2);
}
const tls =
  values['tls-cert'] === undefined
    ? undefined
    : { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!) };
/** A `--rate-limit-*` value: changes per second (bursts of twice that), 0 for none, absent for the default. */
function limitArg(
  name: 'rate-limit-per-token' | 'rate-limit-per-namespace',
  fallback: Limit,
): Limit | undefined {
  const text = values[name];
  if (text === undefined) return fallback;
  const perSecond = Number(text);
  if (!Number.isFinite(perSecond) || perSecond < 0) {
    console.error(`--${name}: "${text}" is not a number of changes per second (0 turns the limit off)`);
    process.exit(2);
  }
  return perSecond === 0 ? undefined : { perSecond, burst: 2 * perSecond };
}
const actorLimit = limitArg('rate-limit-per-token', DEFAULT_RATE_LIMITS.actor);
const namespaceLimit = limitArg('rate-limit-per-namespace', DEFAULT_RATE_LIMITS.namespace);
const app = await buildServer({
  store,
  metrics,
  rateLimits: {
    ...(actorLimit ? { actor: actorLimit } : {}),
    ...(namespaceLimit ? { namespace: namespaceLimit } : {}),
  },
  logger: { level: process.env.LOG_LEVEL ?? 'info' },
  ...(tls ? { tls } : {}),
});
const address = await app.listen({ port, host: values.host });

const where =
  values.store === undefined ? `LMDB in ${resolve(values.data)}` : values.store.replace(/\/\/.*@/, '//');
console.log(`Switchyard control plane on ${address} (store: ${where})`);
if (first.environments.length > 0)
  console.log(`Created environments: ${first.environments.join(', ')} (production is protected)`);
if (first.adminToken !== undefined && process.env.SWITCHYARD_ADMIN_TOKEN === undefined) {
  console.log(`\nAdmin token (shown once; keep it safe):\n\n  ${first.adminToken}\n`);
}
console.log(`API docs: ${address}/docs`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await store.close();
    process.exit(0);
  });
}
