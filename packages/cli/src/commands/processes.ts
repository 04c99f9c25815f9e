/** What the long-running commands (serve, relay) share: stopping on signals, one-line start-up errors. */
import { StartupError } from '@switchyard/server';
import type { Command } from 'commander';

/** Closes what runs on SIGINT, SIGTERM or SIGHUP (its terminal or parent went away), once, then exits. */
export function stopOnSignal(close: () => Promise<void>): void {
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
export function failedToStart(command: Command, error: unknown): never {
  if (error instanceof StartupError) command.error(`${command.name()}: ${error.message}`);
  throw error;
}
