/** `switchyard admin-token`: mints an admin token where the server's LMDB data is. */
import type { Command } from 'commander';
import { mintLocalAdminToken } from '../admin-token.js';
import { failedToStart } from './processes.js';

export function registerAdminToken(program: Command): void {
  program
    .command('admin-token')
    .description(
      'mint a new admin token (unscoped) in the LMDB data directory of a server and print it once; run it on the machine that holds the data (the server may be running)',
    )
    .option('--data <dir>', 'LMDB directory of the server', './data')
    .option('--name <name>', 'a name for the token, shown in the token list and the ledger', 'admin')
    .action(async (options, command: Command) => {
      const name = String(options.name);
      if (name.length === 0 || name.length > 128) {
        command.error('--name: a token name is 1 to 128 characters long');
      }
      const token = await mintLocalAdminToken(options.data, name).catch((error: unknown) =>
        failedToStart(command, error),
      );
      // The value alone on stdout, so scripts can read it; the words around it on stderr.
      console.error(`Admin token "${name}" (shown once; keep it safe):`);
      console.log(token);
    });
}
