/**
 * The limits of the HTTP surface: how long a client may take to send a request, how many connections
 * may be open, how large and how deep a body may be. Every request from outside meets a size, time and
 * shape limit before the application spends memory on it.
 */
import { answerClientError } from './client-errors.js';

export interface HttpLimits {
  /** Milliseconds a client has to send a request's headers (Node's `headersTimeout`); then 408 and closed. */
  headersTimeoutMs: number;
  /** Milliseconds a client has to send a whole request, headers and body (Node's `requestTimeout`). */
  requestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection stays open between requests. */
  keepAliveTimeoutMs: number;
  /** Connections open at once (streams included); a connection beyond it is closed at once. */
  maxConnections: number;
  /** Largest body, in bytes, of a route that does not declare its own limit. */
  bodyBytes: number;
  /** Largest body, in bytes, of `POST /api/v1/apply` (many documents at once). */
  applyBodyBytes: number;
  /** Deepest nesting of arrays and objects in a JSON body. */
  jsonDepth: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 4_096,
  bodyBytes: 1024 * 1024,
  applyBodyBytes: 16 * 1024 * 1024,
  jsonDepth: 64,
});

/** The limits in force: the defaults, with what is given in their place (each a positive integer). */
export function httpLimits(given: Partial<HttpLimits> = {}): HttpLimits {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`limits.${name} must be a positive integer; it is ${String(value)}`);
    }
  }
  return limits;
}

/**
 * How often Node looks for requests past their header or request timeout: a fraction of the shorter
 * one, so that a timeout is enforced within a quarter of its length (Node's default looks every 30 s).
 */
function timeoutCheckIntervalMs(limits: HttpLimits): number {
  return Math.max(10, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4));
}

/**
 * The Fastify options that enforce the limits on an app (HTTPS with `tls`): Node's header and request
 * timeouts (a client that stalls gets 408 and its socket closed), the keep-alive timeout and the default
 * body limit. The connection cap is set on the app's server once it exists (`capConnections`).
 */
export function limitedServerOptions(limits: HttpLimits, tls?: { key: Buffer; cert: Buffer }) {
  const node = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: timeoutCheckIntervalMs(limits),
  };
  return {
    ...(tls === undefined ? { http: node } : { https: { ...tls, ...node } }),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    bodyLimit: limits.bodyBytes,
    clientErrorHandler: answerClientError,
  };
}

/** Closes connections beyond `limits.maxConnections` as they arrive (Node's `server.maxConnections`). */
export function capConnections(server: { maxConnections: number }, limits: HttpLimits): void {
  server.maxConnections = limits.maxConnections;
}

/** The longest idempotency key a request may send, in characters. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;
