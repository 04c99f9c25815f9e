/** `switchyard relay`: a regional relay following an upstream server or relay. */
import { startRelay } from '@switchyard/relay';
import type { Command } from 'commander';
import { httpUrl, integer, origins } from './arguments.js';
import { stopOnSignal } from './processes.js';

export function registerRelay(program: Command): void {
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
    .option(
      '--port <port>',
      'port to listen on',
      integer('a port', 0, 65535),
      Number(process.env.PORT ?? 8081),
    )
    .option('--host <host>', 'address to listen on', process.env.HOST ?? '127.0.0.1')
    .option(
      '--cors-origin <origin>',
      'let browsers on this origin call OFREP, /sdk/v1/* and /events/v1 (repeatable; none by default)',
      origins,
    )
    .action(async (options, command: Command) => {
      if (!/^[a-z0-9][a-z0-9_-]*$/.test(options.region)) {
        command.error(
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
        command.error(`relay: ${(error as Error).message}`);
      }
      stopOnSignal(() => running.close());
    });
}
