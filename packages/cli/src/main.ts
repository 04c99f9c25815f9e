#!/usr/bin/env node
/**
 * `switchyard`: the command. One module per command under `commands/`, each registering itself here:
 * `serve` runs the control plane, `admin-token` mints an admin token where the data is, `relay` runs a
 * relay, and the flags-as-code commands work against files and a server.
 */
import { Command } from 'commander';
import { registerAdminToken } from './commands/admin-token.js';
import { registerRelay } from './commands/relay.js';
import { registerServe } from './commands/serve.js';

const program = new Command('switchyard')
  .description('Feature flags and progressive rollouts for millions of toggles.')
  .version('0.1.0')
  // Exit codes: 0 fine, 1 differences or findings (set by the commands), 2 usage or server error.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

registerServe(program);
registerAdminToken(program);
registerRelay(program);

await program.parseAsync();
