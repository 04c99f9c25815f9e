/**
 * Why the server could not start, in one line a person can act on: a busy port, a malformed admin token,
 * a data directory that cannot be opened. Commands print the message alone (no stack trace) and exit 1;
 * any other error at start-up is a bug and keeps its stack.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;
const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The StartupError for a failed `listen`, or the error itself when it is not one a person can fix. */
export function listenFailure(error: unknown, host: string, port: number): unknown {
  switch (errorCode(error)) {
    case 'EADDRINUSE':
      return new StartupError(
        `port ${port} on ${host} is already in use; stop what listens there or choose another port (--port or PORT)`,
      );
    case 'EACCES':
      return new StartupError(
        `not allowed to listen on port ${port} of ${host} (ports below 1024 need privileges); choose another port`,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`cannot listen on ${host}: it is not an address of this machine`);
    default:
      return error;
  }
}

/** A StartupError for a data directory that cannot be created or opened. */
export function dataFailure(dir: string, error: unknown): StartupError {
  const code = errorCode(error);
  const why =
    code === 'ENOTDIR' || code === 'EEXIST'
      ? 'a file is in the way of the directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : reason(error).split('\n')[0];
  return new StartupError(`cannot open the data directory ${dir}: ${why}`);
}
