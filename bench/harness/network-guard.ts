/**
 * Makes "offline" checkable: once installed, any attempt to open a socket (Node's http, https, net,
 * tls and the built-in fetch all go through `net.Socket#connect`) or to call `fetch` is recorded
 * and fails, so a fixture that talks to the network is reported instead of silently measured.
 */
import net from 'node:net';

const attempts: string[] = [];

export function blockNetwork(): void {
  const refuse = (what: string): never => {
    attempts.push(what);
    throw new Error(`bench: network access is blocked (${what})`);
  };
  net.Socket.prototype.connect = function connect(...args: unknown[]): never {
    return refuse(`connect ${describeTarget(args[0])}`);
  } as typeof net.Socket.prototype.connect;
  globalThis.fetch = ((input: unknown) => Promise.reject(refuse(`fetch ${String(input)}`))) as typeof fetch;
}

/** What was attempted since `blockNetwork()`; empty when the fixture stayed offline. */
export function networkAttempts(): readonly string[] {
  return attempts;
}

function describeTarget(target: unknown): string {
  // Node's own callers (http, tls) pass connect() its normalised arguments: [options, callback].
  if (Array.isArray(target)) return describeTarget(target[0]);
  if (typeof target === 'object' && target !== null) {
    const { host, port, path } = target as { host?: unknown; port?: unknown; path?: unknown };
    return typeof path === 'string' ? path : `${String(host ?? 'localhost')}:${String(port)}`;
  }
  return String(target);
}
