/**
 * Response schemas of routes, in the shapes @fastify/swagger renders into the OpenAPI document: a JSON
 * body, no body, another media type, and the problem+json errors (statuses as `problems.ts` maps them).
 *
 * They document; they do not shape. Fastify would serialize a response that has a schema with
 * fast-json-stringify, which drops the fields a schema does not name and fails on a missing required one,
 * so `serializeAsIs` keeps `JSON.stringify`, what Fastify uses for routes without a response schema:
 * documenting a route can never change what it sends. openapi.test.ts checks real responses against the
 * document instead.
 */
import type { FastifySerializerCompiler } from 'fastify';

type JsonSchema = Record<string, unknown>;
type Headers = Record<string, JsonSchema & { description: string }>;

/** A serializer compiler that ignores the schema: bodies go out as `JSON.stringify` makes them. */
export const serializeAsIs: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

/** A reference to a shared schema (openapi/components.ts). */
export const ref = (name: string): JsonSchema => ({ $ref: `${name}#` });

/** A list of `items` (and whatever else the page holds). */
export const list = (items: JsonSchema, extra: Record<string, JsonSchema> = {}): JsonSchema => ({
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items }, ...extra },
  additionalProperties: false,
});

export const ETAG: Headers = {
  etag: { type: 'string', description: 'the version of what was returned, e.g. `"3"`; send it as If-Match' },
};

/** A JSON body. */
export function json(schema: JsonSchema, description: string, headers?: Headers): JsonSchema {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': { schema } },
  };
}

/** A body of another media type, such as the snapshot or the stream. */
export function media(type: string, schema: JsonSchema, description: string, headers?: Headers): JsonSchema {
  return { description, ...(headers === undefined ? {} : { headers }), content: { [type]: { schema } } };
}

/** No body (204, 304). */
export const empty = (description: string, headers?: Headers): JsonSchema => ({
  description,
  type: 'null',
  ...(headers === undefined ? {} : { headers }),
});

export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 428 | 429 | 503;

const RETRY_AFTER: Headers = { 'retry-after': { type: 'string', description: 'seconds to wait' } };

const PROBLEMS: Record<ProblemStatus, { description: string; headers?: Headers }> = {
  400: { description: 'Bad Request: the path, query, headers or body are malformed' },
  401: {
    description: 'Unauthorized: no token, or an unknown, revoked or expired one',
    headers: { 'www-authenticate': { type: 'string', description: '`Bearer realm="switchyard"`' } },
  },
  403: { description: 'Forbidden: the token’s role or scopes do not allow this' },
  404: { description: 'Not Found' },
  409: {
    description:
      'Conflict: not at the version sent (`currentVersion` says which it is at), already exists, a rule of the store (e.g. delete before archive), or an idempotency key sent with another request',
  },
  413: { description: 'Content Too Large: the body is over the limit' },
  415: { description: 'Unsupported Media Type: send `application/json`' },
  422: { description: 'Unprocessable Content: the document is invalid; `errors` locates each issue' },
  428: { description: 'Precondition Required: send If-Match with the version you read (its ETag)' },
  429: {
    description: 'Too Many Requests: over the rate limit of the token or the namespace',
    headers: RETRY_AFTER,
  },
  503: { description: 'Service Unavailable: the store cannot be reached', headers: RETRY_AFTER },
};

/** A problem+json response, with the status's usual description or `description`. */
export function problem(status: ProblemStatus, description?: string): JsonSchema {
  const { description: usual, headers } = PROBLEMS[status];
  return media('application/problem+json', ref('Problem'), description ?? usual, headers);
}

/** The problem+json responses of `statuses`. */
export function problems(...statuses: ProblemStatus[]): Record<number, JsonSchema> {
  return Object.fromEntries(statuses.map((status) => [status, problem(status)]));
}
