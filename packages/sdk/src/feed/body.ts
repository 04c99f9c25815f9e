/**
 * Reading an upstream's response bodies within limits: nothing an upstream sends is held beyond a size,
 * and a body that stops coming is cut. Shared by the feed (snapshots) and the relay (`/sdk/v1/whoami`).
 */
import { UpstreamError } from './events.js';

export interface BodyLimits {
  /** Longest body accepted, in bytes; a longer one is refused before it is held whole. */
  maxBytes: number;
  /** What the body is, for messages (`snapshot`, `whoami answer`). */
  what: string;
  /**
   * A body that sends nothing for this long is cut: `abort` is called with the error, and must abort the
   * request (which ends the read). No idle limit when absent; the request's own signal bounds the total.
   */
  idle?: { ms: number; abort: (error: UpstreamError) => void };
}

/**
 * A response's body in one buffer, or an `UpstreamError` when it is longer than `maxBytes` (a
 * Content-Length above it is refused before any byte is read). perf: with a Content-Length the bytes are
 * copied once into a buffer of that size, instead of collected and joined, which would briefly hold a
 * million-flag snapshot twice.
 */
export async function readBody(response: Response, limits: BodyLimits): Promise<Buffer> {
  const { maxBytes, what } = limits;
  const declared = response.headers.get('content-length');
  const length = declared === null ? Number.NaN : Number(declared);
  if (Number.isSafeInteger(length) && length > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new UpstreamError(`the ${what} is ${length} bytes, more than the ${maxBytes} accepted`);
  }
  if (response.body === null) return Buffer.alloc(0);
  const known = Number.isSafeInteger(length) && length > 0;
  const out = known ? Buffer.allocUnsafe(length) : undefined;
  const parts: Buffer[] = [];
  let at = 0;
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    if (limits.idle === undefined) return;
    const { ms, abort } = limits.idle;
    clearTimeout(idle);
    idle = setTimeout(() => abort(new UpstreamError(`the ${what} sent nothing for ${ms} ms`)), ms);
  };
  try {
    touch();
    for await (const chunk of response.body) {
      touch();
      if (at + chunk.length > (known ? length : maxBytes)) {
        throw new UpstreamError(
          known
            ? `the ${what} is longer than its Content-Length`
            : `the ${what} is longer than the ${maxBytes} bytes accepted`,
        );
      }
      if (out === undefined) parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      else out.set(chunk, at);
      at += chunk.length;
    }
  } finally {
    clearTimeout(idle);
  }
  if (out === undefined) return Buffer.concat(parts, at);
  if (at !== length) throw new UpstreamError(`the ${what} ended after ${at} of ${length} bytes`);
  return out;
}
