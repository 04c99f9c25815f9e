/**
 * Errors as RFC 9457 problem details (`application/problem+json`), mapped once from the store's typed
 * errors and the server's own. Validation problems carry their located issues.
 */
import {
  ConflictError,
  CorruptRecordError,
  IdempotencyMismatchError,
  InvalidOperationError,
  NotFoundError,
  SealedValueError,
  StoreValidationError,
  UnavailableError,
} from '@switchyard/store';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error the API answers with a given status. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export const unauthorized = (detail: string) =>
  new HttpProblem(401, 'Unauthorized', detail, {}, { 'www-authenticate': 'Bearer realm="switchyard"' });
export const forbidden = (detail: string) => new HttpProblem(403, 'Forbidden', detail);
export const badRequest = (detail: string) => new HttpProblem(400, 'Bad Request', detail);

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  [field: string]: unknown;
}

function toProblem(
  error: unknown,
  request: FastifyRequest,
): { problem: Problem; headers: Record<string, string> } {
  const base = (status: number, title: string, detail: string, extra: Record<string, unknown> = {}) => ({
    type: 'about:blank',
    title,
    status,
    detail,
    instance: request.url,
    requestId: request.id,
    ...extra,
  });
  if (error instanceof HttpProblem) {
    return { problem: base(error.status, error.title, error.message, error.extra), headers: error.headers };
  }
  if (error instanceof StoreValidationError) {
    return {
      problem: base(422, 'Unprocessable Content', error.message, { errors: error.issues }),
      headers: {},
    };
  }
  if (error instanceof NotFoundError) return { problem: base(404, 'Not Found', error.message), headers: {} };
  if (error instanceof ConflictError) {
    const extra = error.actual === undefined ? {} : { currentVersion: error.actual };
    return { problem: base(409, 'Conflict', error.message, extra), headers: {} };
  }
  if (error instanceof IdempotencyMismatchError || error instanceof InvalidOperationError) {
    return { problem: base(409, 'Conflict', error.message), headers: {} };
  }
  if (error instanceof UnavailableError) {
    return { problem: base(503, 'Service Unavailable', error.message), headers: { 'retry-after': '1' } };
  }
  if (error instanceof CorruptRecordError || error instanceof SealedValueError) {
    // What is stored cannot be read here (damaged, or sealed with a key this server lacks): the rest of
    // the store still serves, /readyz names the damage, and nothing is answered as if it were absent.
    return { problem: base(503, 'Service Unavailable', error.message), headers: {} };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    return { problem: base(400, 'Bad Request', fastifyError.message), headers: {} };
  }
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    const titles: Record<number, string> = {
      400: 'Bad Request',
      404: 'Not Found',
      408: 'Request Timeout',
      413: 'Content Too Large',
      414: 'URI Too Long',
      415: 'Unsupported Media Type',
    };
    return {
      problem: base(
        fastifyError.statusCode,
        titles[fastifyError.statusCode] ?? 'Client Error',
        fastifyError.message,
      ),
      headers: {},
    };
  }
  return {
    problem: base(500, 'Internal Server Error', 'the server failed; the log has the details'),
    headers: {},
  };
}

/**
 * Fastify's error handler: every error becomes a problem; server errors are logged. A request refused
 * before its body arrived (no token, no route, too large) has its connection closed after the answer,
 * so that the server does not go on receiving a body it will not read.
 */
/** Sends `error` as problem+json; `notFoundHint` is added to the detail of a 404. */
export function sendProblem(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  notFoundHint = '',
): FastifyReply {
  const { problem, headers } = toProblem(error, request);
  if (problem.status === 404 && notFoundHint !== '') problem.detail = `${problem.detail}${notFoundHint}`;
  if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
  if (!request.raw.complete) headers.connection = 'close';
  return reply.code(problem.status).headers(headers).type('application/problem+json').send(problem);
}
