#!/usr/bin/env node
/**
 * `switchyard`: the command. `switchyard serve` runs the control plane, `switchyard admin-token` mints an
 * admin token where the data is, `switchyard relay` runs a relay; flags-as-code commands (apply, diff,
 * lint, export) come with their issue.
 */
import { readFileSync } from 'node:fs';
import { startRelay } from '@switchyard/relay';
import { StartupError, serve } from '@switchyard/server';
import { Command, InvalidArgumentError } from 'commander';
import { mintLocalAdminToken } from './admin-token.js';

const integer = (what: string, min: number, max: number) => (text: string) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`"${text}" is not ${what} (a whole number from ${min} to ${max})`);
  }
  return value;
};

const perSecond = (text: string) => {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `"${text}" is not a rate per second (a number ≥ 0; 0 turns the limit off)`,
    );
  }
  return value;
};

const httpUrl = (text: string) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(`"${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`"${text}" is not an http:// or https:// URL`);
  }
  return text;
};

/** Collects a repeated `--cors-origin`: an origin as a browser sends it, `scheme://host[:port]`. */
const origins = (text: string, previous: string[] = []) => {
  let origin: string | undefined;
  try {
    origin = new URL(text).origin;
  } catch {}
  if (origin !== text) {
    throw new InvalidArgumentError(`"${text}" is not an origin (e.g. https://app.example.com, no path)`);
  }
  return [...previous, text];
};

/** Closes what runs on SIGINT, SIGTERM or SIGHUP (its terminal or parent went away), once, then exits. */
function stopOnSignal(close: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      await close();
      process.exit(0);
    });
  }
}

/** Ends the command with the one-line message of a StartupError (no stack trace); other errors are bugs. */
function failedToStart(command: string, error: unknown): never {
  if (error instanceof StartupError) program.error(`${command}: ${error.message}`);
  throw error;
}

const program = new Command('switchyard')
  .description('Feature flags and progressive rollouts for millions of toggles.')
  .version('0.1.0');

program
  .command('serve')
  .description('run the control-plane server (LMDB under --data, or Redis with --store)')
  .option('--port <port>', 'port to listen on', integer('a port', 0, 65535), Number(process.env.PORT ?? 8080))
  .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
  .option('--data <dir>', 'LMDB directory', './data')
  .option('--store <url>', 'redis://host:port or redis-cluster://host:port,host:port instead of LMDB')
  .option(
    '--wait-replicas <n>',
    'replicas that confirm each change on a Redis Cluster',
    integer('a count', 0, 16),
    1,
  )
  .option('--tls-cert <file>', 'PEM certificate, for HTTPS (with --tls-key)')
  .option('--tls-key <file>', 'PEM private key, for HTTPS (with --tls-cert)')
  .option('--rate-limit-per-token <n>', 'changes per second per API token; 0 for none', perSecond)
  .option('--rate-limit-per-namespace <n>', 'changes per second per namespace; 0 for none', perSecond)
  .option(
    '--rate-limit-evaluations <n>',
    'OFREP evaluations per second per SDK key; 0 for none (the default)',
    perSecond,
  )
  .option('--region <name>', 'the region label of the delivery metrics', 'central')
  .option(
    '--cors-origin <origin>',
    'let browsers on this origin call OFREP, /sdk/v1/* and /events/v1 (repeatable; none by default)',
    origins,
  )
  .option('--exposures-webhook <url>', 'POST every accepted batch of exposure events to this URL', httpUrl)
  .option('--exposures-file <path>', 'append every accepted exposure event to this file (JSON Lines)')
  .option(
    '--verify-store',
    'once serving, scrub every page, record and ledger of the store in the background (reads it all)',
  )
  .addHelpText(
    'after',
    '\nEnvironment: SWITCHYARD_ADMIN_TOKEN (the first admin token), SWITCHYARD_MASTER_KEY or\n' +
      'SWITCHYARD_MASTER_KEY_FILE (keys for sensitive values; a file holds one a line, the first sealing), LOG_LEVEL.\n' +
      'Lost the admin token? `switchyard admin-token --data DIR` mints a new one on this machine.',
  )
  .action(async (options) => {
    if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
      program.error('--tls-cert and --tls-key go together: give both (PEM files) or neither');
    }
    const keyFile = process.env.SWITCHYARD_MASTER_KEY_FILE;
    const masterKeys = keyFile
      ? readFileSync(keyFile, 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
      : process.env.SWITCHYARD_MASTER_KEY
        ? [process.env.SWITCHYARD_MASTER_KEY]
        : [];
    // Signals are handled from the start: one arriving while the server starts closes it once started.
    const running = serve({
      port: options.port,
      host: options.host,
      data: options.data,
      ...(options.store ? { store: options.store } : {}),
      waitReplicas: options.waitReplicas,
      ...(options.tlsCert ? { tls: { cert: options.tlsCert, key: options.tlsKey } } : {}),
      ...(options.rateLimitPerToken === undefined ? {} : { rateLimitPerToken: options.rateLimitPerToken }),
      ...(options.rateLimitEvaluations ? { rateLimitEvaluations: options.rateLimitEvaluations } : {}),
      region: options.region,
      ...(options.corsOrigin ? { corsOrigins: options.corsOrigin } : {}),
      ...(options.rateLimitPerNamespace === undefined
        ? {}
        : { rateLimitPerNamespace: options.rateLimitPerNamespace }),
      ...(process.env.SWITCHYARD_ADMIN_TOKEN ? { adminToken: process.env.SWITCHYARD_ADMIN_TOKEN } : {}),
      masterKeys,
      ...(options.exposuresWebhook ? { exposuresWebhook: options.exposuresWebhook } : {}),
      ...(options.exposuresFile ? { exposuresFile: options.exposuresFile } : {}),
      ...(options.verifyStore ? { verifyStore: true } : {}),
      logLevel: process.env.LOG_LEVEL ?? 'info',
    }).catch((error: unknown) => failedToStart('serve', error));
    stopOnSignal(async () => (await running).close());
    await running;
  });

program
  .command('admin-token')
  .description(
    'mint a new admin token (unscoped) in the LMDB data directory of a server and print it once; run it on the machine that holds the data (the server may be running)',
  )
  .option('--data <dir>', 'LMDB directory of the server', './data')
  .option('--name <name>', 'a name for the token, shown in the token list and the ledger', 'admin')
  .action(async (options) => {
    const name = String(options.name);
    if (name.length === 0 || name.length > 128) {
      program.error('--name: a token name is 1 to 128 characters long');
    }
    const token = await mintLocalAdminToken(options.data, name).catch((error: unknown) =>
      failedToStart('admin-token', error),
    );
    // The value alone on stdout, so scripts can read it; the words around it on stderr.
    console.error(`Admin token "${name}" (shown once; keep it safe):`);
    console.log(token);
  });

program
  .command('relay')
  .description(
    'run a regional relay: follow an upstream server or relay, keep its data in LMDB under --data, and serve the same delivery endpoints (snapshot, stream, OFREP) to the SDKs of a region',
  )
  .requiredOption(
    '--upstream <url>',
    'the server or relay to follow, e.g. https://flags.example.com',
    httpUrl,
  )
  .requiredOption(
    '--sdk-key <key>',
    'an sdk-server key of one environment (or SWITCHYARD_SDK_KEY)',
    process.env.SWITCHYARD_SDK_KEY,
  )
  .option('--region <name>', 'the region label of its metrics', 'default')
  .option('--data <dir>', 'LMDB directory of its last known good data', './relay-data')
  .option(
    '--namespaces <list>',
    'comma-separated namespaces or prefixes to relay (all the key may read by default)',
  )
  .option('--port <port>', 'port to listen on', integer('a port', 0, 65535), Number(process.env.PORT ?? 8081))
  .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
  .option(
    '--cors-origin <origin>',
    'let browsers on this origin call OFREP, /sdk/v1/* and /events/v1 (repeatable; none by default)',
    origins,
  )
  .action(async (options) => {
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(options.region)) {
      program.error(
        `--region: "${options.region}" is not a region name (lowercase letters, digits, "-", "_")`,
      );
    }
    let running: Awaited<ReturnType<typeof startRelay>>;
    try {
      running = await startRelay({
        upstream: options.upstream,
        sdkKey: options.sdkKey,
        region: options.region,
        data: options.data,
        port: options.port,
        host: options.host,
        ...(options.namespaces ? { namespaces: String(options.namespaces).split(',') } : {}),
        ...(options.corsOrigin ? { corsOrigins: options.corsOrigin } : {}),
        logLevel: process.env.LOG_LEVEL ?? 'info',
      });
    } catch (error) {
      program.error(`relay: ${(error as Error).message}`);
    }
    stopOnSignal(() => running.close());
  });

await program.parseAsync();
