/**
 * The body of `POST /events/v1` (spec/protocol.md, "Exposure events"), as a TypeBox schema: the one
 * source of its validation, its TypeScript type and its OpenAPI description. Unknown fields are refused.
 */
import { type Static, Type } from '@sinclair/typebox';
import { formatPath, names, pathSegment, pointerSegments } from '@switchyard/core';
import type { FastifySchemaValidationError } from 'fastify';

const MAX_EVENTS = 10_000;
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_COUNT = 1_000_000_000_000;

const name = (rule: names.NameRule) =>
  Type.String({ pattern: rule.pattern, maxLength: rule.maxLength, description: rule.describe });

export const ExposureEvent = Type.Object(
  {
    kind: Type.Literal('exposure'),
    flag: name(names.FLAG_KEY),
    variant: name(names.VARIATION),
    version: Type.Optional(Type.Integer({ minimum: 0, description: 'the version of the flag state served' })),
    ruleId: Type.Optional(name(names.RULE_ID)),
    reason: Type.Optional(
      Type.String({ pattern: '^[A-Z][A-Z_]*$', maxLength: 64, description: 'an OpenFeature reason' }),
    ),
    errorCode: Type.Optional(Type.String({ pattern: '^[A-Z][A-Z_]*$', maxLength: 64 })),
    time: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'when the flag was evaluated (the server counts it in that hour); the time it arrives if absent',
      }),
    ),
    count: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_COUNT,
        description: 'identical exposures this entry stands for',
      }),
    ),
    sampleRate: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description:
          'the share of evaluations the SDK recorded (1 when absent): the server counts count / sampleRate, rounded',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExposureEvent = Static<typeof ExposureEvent>;

export const ExposureBatchBody = Type.Object(
  {
    environment: Type.Optional(
      Type.String({
        pattern: names.ENVIRONMENT.pattern,
        maxLength: names.ENVIRONMENT.maxLength,
        description: "required with a control-plane token; with an SDK key, the key's environment if given",
      }),
    ),
    events: Type.Array(ExposureEvent, { maxItems: MAX_EVENTS }),
  },
  { additionalProperties: false },
);
export type ExposureBatchBody = Static<typeof ExposureBatchBody>;

/**
 * An accepted event as forwarded to sinks: its environment and time filled in, and its count the
 * exposures it stands for, already scaled by its sample rate (count / sampleRate, rounded, at least 1).
 * `sampleRate` is still passed on as the SDK sent it: a sink must not divide the count by it again.
 */
export interface ForwardedExposure extends ExposureEvent {
  environment: string;
  time: string;
  count: number;
}

/** What sinks receive: the events of one accepted request. */
export interface ExposureBatch {
  environment: string;
  /** When the server accepted it (RFC 3339). */
  receivedAt: string;
  events: readonly ForwardedExposure[];
}

const describe: Record<string, string> = {
  flag: names.FLAG_KEY.describe,
  variant: names.VARIATION.describe,
  ruleId: names.RULE_ID.describe,
  environment: names.ENVIRONMENT.describe,
};

/**
 * A schema validation error as a located issue, like the store's (`events[3].flag`), with the naming
 * rule's sentence instead of a bare pattern.
 */
export function issueOf(error: FastifySchemaValidationError): { path: string; message: string } {
  // Array indices as numbers, so that core's formatPath brackets them (`events[3].flag`).
  const segments = pointerSegments(error.instancePath);
  const params = error.params as Record<string, unknown>;
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties') {
    segments.push(pathSegment(String(params.additionalProperty)));
    message = 'is not a known field';
  } else if (error.keyword === 'required') {
    segments.push(pathSegment(String(params.missingProperty)));
    message = 'is required';
  } else if (error.keyword === 'pattern') {
    const rule = describe[String(segments[segments.length - 1] ?? '')];
    if (rule !== undefined) message = `must be ${rule}`;
  }
  return { path: formatPath(segments), message };
}
