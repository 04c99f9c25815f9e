/** `switchyard serve`: the control-plane server on LMDB (the default) or Redis, with its console. */
import { readFileSync } from 'node:fs';
import { serve } from '@switchyard/server';
import type { Command } from 'commander';
import { httpUrl, integer, origins, perSecond } from './arguments.js';
import { failedToStart, stopOnSignal } from './processes.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the control-plane server (LMDB under --data, or Redis with --store)')
    .option(
      '--port <port>',
      'port to listen on',
      integer('a port', 0, 65535),
      Number(process.env.PORT ?? 8080),
    )
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
    .action(async (options, command: Command) => {
      if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
        command.error('--tls-cert and --tls-key go together: give both (PEM files) or neither');
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
      }).catch((error: unknown) => failedToStart(command, error));
      stopOnSignal(async () => (await running).close());
      await running;
    });
}
