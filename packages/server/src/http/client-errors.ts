/**
 * Requests Node's HTTP parser cannot read (a malformed request line or header, headers too large, a
 * request that timed out) never reach Fastify's routes: they are answered here, on the socket, as
 * problem+json like every other refusal, and the connection is closed. The answer to a HEAD request
 * carries no body, so that a client reading the connection is never handed bytes it did not ask for.
 */
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';

const STATUS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
};

/** Fastify's `clientErrorHandler`: one problem for what the parser refused, then the socket closes. */
export function answerClientError(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, title] = STATUS[error.code ?? ''] ?? [400, 'Bad Request'];
  // Node hands the bytes it could not parse as a Buffer (Fastify's type describes it as serialized JSON).
  const packet = error.rawPacket as unknown as Buffer | undefined;
  const head = packet?.subarray(0, 5).toString('latin1') === 'HEAD ';
  const body = head
    ? ''
    : JSON.stringify({
        type: 'about:blank',
        title,
        status,
        detail: status === 400 ? 'the request line or a header is malformed' : title.toLowerCase(),
      });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
