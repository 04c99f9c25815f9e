// The child process of the Unleash peer (bench/peers/unleash-server/setup.ts): starts unleash-server,
// installed in .install/ (never committed), through its Node API on the Node it requires, and stops it
// on SIGTERM. Its configuration comes from the environment the harness sets (see setup.ts):
// UNLEASH_SERVER_IMPL (the path of its server-impl.js), UNLEASH_PORT, UNLEASH_DB_PORT, and Unleash's own
// INIT_*_API_TOKENS. Prints one line `unleash listening <ms>` once it is up.
import { pathToFileURL } from 'node:url';

const started = performance.now();
const { start } = await import(pathToFileURL(process.env.UNLEASH_SERVER_IMPL).href);
const unleash = await start({
  db: {
    host: '127.0.0.1',
    port: Number(process.env.UNLEASH_DB_PORT),
    user: 'unleash',
    password: '',
    database: 'unleash',
    ssl: false,
  },
  server: { host: '127.0.0.1', port: Number(process.env.UNLEASH_PORT) },
  versionCheck: { enable: false },
  telemetry: false,
  logLevel: process.env.UNLEASH_LOG_LEVEL ?? 'warn',
});
process.stdout.write(`unleash listening ${Math.round(performance.now() - started)}\n`);

let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  try {
    await unleash.stop();
  } finally {
    process.exit(0);
  }
});
