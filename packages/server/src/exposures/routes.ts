/**
 * Exposure events: `POST /events/v1`, where SDKs report what they evaluated, and
 * `GET /api/v1/flags/{key}/exposures`, the hourly counts per variant.
 *
 * Ingestion answers `202 {accepted}` as soon as a batch is validated and added to the in-memory aggregate
 * (see aggregator.ts); the counts reach the store within about `flushIntervalMs`, and every accepted
 * batch goes to the forwarding sinks.
 *
 * Who may send: an `sdk-server` or `sdk-client` key (the environment is the key's; an `environment` field,
 * if sent, must name it), or a control-plane token of an editor or above with an `environment` field (its
 * environment scope applies). Events are judged one by one: an event of a flag outside the key's
 * namespaces, or one the store could not count (`exposureProblem`: dated before 1970, …), is left out and
 * counted (`switchyard_exposures_refused_total`), and the rest of the batch is accepted.
 * `/events/v1` is outside `/api/`, so this route authenticates for itself, and change rate limits do not
 * apply to it.
 */
import { splitKey } from '@switchyard/core';
import { exposureProblem, hourOf } from '@switchyard/store';
import type { FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { RouteDeps } from '../api/flags.js';
import { authenticate, authorize, inNamespaces, isSdkRole, type Principal } from '../governance/access.js';
import type { Metrics } from '../metrics.js';
import { json, problem, problems } from '../openapi/responses.js';
import { badRequest, forbidden, HttpProblem } from '../problems.js';
import { ExposureAggregator } from './aggregator.js';
import {
  type ExposureBatch,
  ExposureBatchBody,
  type ForwardedExposure,
  issueOf,
  MAX_BODY_BYTES,
  MAX_COUNT,
} from './events.js';
import { fileSink } from './file-sink.js';
import type { ExposureSink } from './sink.js';
import { type WebhookSinkOptions, webhookSink } from './webhook-sink.js';

export interface ExposureOptions {
  /** How often aggregated counts are written to the store, in ms (default 1000). */
  flushIntervalMs?: number;
  /** Most environment × flag × variant × hour counters held in memory (default 100,000). */
  maxPendingCounters?: number;
  /** Forward every accepted batch to this URL (POST, JSON, batched, retried). */
  webhook?: string | WebhookSinkOptions;
  /** Append every accepted event to this file, one JSON object a line. */
  file?: string;
  /** Other sinks, which report their own drops. */
  sinks?: readonly ExposureSink[];
}

export interface ExposureDeps extends RouteDeps, ExposureOptions {
  metrics: Metrics;
}

const HOUR_MS = 3600_000;
/** The longest range `GET …/exposures` answers, in hours. */
const MAX_RANGE_HOURS = 92 * 24;
/** Event times further ahead of the server's clock than this are counted at the server's time. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

const COUNTS = {
  type: 'object',
  additionalProperties: { type: 'integer', minimum: 0 },
  description: 'by variant',
};

const EXPOSURE_COUNTS = {
  type: 'object',
  required: ['flag', 'environment', 'from', 'to', 'items', 'totals', 'total'],
  properties: {
    flag: { type: 'string' },
    environment: { type: 'string' },
    from: { type: 'string', format: 'date-time', description: 'the start of the first hour counted' },
    to: { type: 'string', format: 'date-time' },
    items: {
      type: 'array',
      description: 'hours with exposures, in order',
      items: {
        type: 'object',
        required: ['hour', 'counts', 'total'],
        properties: {
          hour: { type: 'string', format: 'date-time' },
          counts: COUNTS,
          total: { type: 'integer', minimum: 0 },
        },
        additionalProperties: false,
      },
    },
    totals: COUNTS,
    total: { type: 'integer', minimum: 0 },
  },
  additionalProperties: false,
};

/** The environment a batch counts in, or a 403 / 400. */
async function environmentOf(
  deps: RouteDeps,
  principal: Principal,
  given: string | undefined,
): Promise<string> {
  let environment: string;
  if (isSdkRole(principal.role)) {
    if (principal.environments.length !== 1) {
      throw forbidden('this SDK key is not tied to one environment; create it with one');
    }
    environment = principal.environments[0]!;
    if (given !== undefined && given !== environment) {
      throw forbidden(`this SDK key is for environment "${environment}", not "${given}"`);
    }
  } else {
    if (given === undefined) {
      throw badRequest(
        'with a control-plane token, say which environment: { "environment": "…", "events": […] }',
      );
    }
    environment = given;
    authorize(principal, 'write', { environment });
  }
  if (!(await deps.store.flags.environments()).some((e) => e.name === environment)) {
    throw badRequest(`environment "${environment}" does not exist`);
  }
  return environment;
}

function sinksOf(deps: ExposureDeps, app: FastifyInstance): ExposureSink[] {
  const sinks = [...(deps.sinks ?? [])];
  const onDrop = (sink: string) => (reason: string, events: number) =>
    deps.metrics.exposureSinkDropped.inc({ sink, reason }, events);
  if (deps.webhook !== undefined) {
    const options = typeof deps.webhook === 'string' ? { url: deps.webhook } : deps.webhook;
    sinks.push(
      webhookSink({
        onDrop: onDrop('webhook'),
        onError: (error, attempt) =>
          app.log.warn({ err: error, attempt }, 'forwarding exposures to the webhook failed'),
        ...options,
      }),
    );
  }
  if (deps.file !== undefined) {
    sinks.push(
      fileSink({
        path: deps.file,
        onDrop: onDrop('file'),
        onError: (error) => app.log.warn({ err: error }, 'appending exposures to the file failed'),
      }),
    );
  }
  return sinks;
}

export function exposureRoutes(app: FastifyInstance, deps: ExposureDeps): void {
  const { store, clock, metrics } = deps;
  const aggregator = new ExposureAggregator({
    store,
    metrics,
    log: app.log,
    ...(deps.flushIntervalMs === undefined ? {} : { flushIntervalMs: deps.flushIntervalMs }),
    ...(deps.maxPendingCounters === undefined ? {} : { maxPending: deps.maxPendingCounters }),
  });
  const sinks = sinksOf(deps, app);
  app.addHook('onClose', async () => {
    await aggregator.close();
    await Promise.all(sinks.map((sink) => sink.close()));
  });

  // Not `request.principal`: that would subject SDKs to the change rate limits of the control plane.
  const principals = new WeakMap<FastifyRequest, Principal>();

  app.post(
    '/events/v1',
    {
      bodyLimit: MAX_BODY_BYTES,
      attachValidation: true,
      // Authenticated before the body is read, so no one without a key makes the server parse 1 MiB.
      onRequest: async (request) => {
        principals.set(request, await authenticate(store, request.headers.authorization, clock()));
      },
      schema: {
        tags: ['exposures'],
        summary: 'Report exposures (what SDKs evaluated); counted per flag × variant × hour',
        body: ExposureBatchBody,
        response: {
          202: json(
            {
              type: 'object',
              properties: {
                accepted: { type: 'integer', description: 'events accepted' },
                dropped: {
                  type: 'integer',
                  description:
                    'events left out (of a flag outside the key’s namespaces, or dated before 1970), present when there are any; the others were accepted',
                },
              },
              required: ['accepted'],
              additionalProperties: false,
            },
            'Accepted: counted within about a second, and forwarded to the configured sinks',
          ),
          400: problem(
            400,
            'Bad Request: an invalid batch (`errors` locates each issue), no environment with a control-plane token, or an unknown environment',
          ),
          401: problem(401),
          403: problem(403, 'Forbidden: another environment than the SDK key’s (nothing was counted)'),
          ...problems(413, 415),
          503: problem(503, 'Service Unavailable: too many counts wait to be written; send again shortly'),
        },
      },
    },
    async (request, reply) => {
      if (request.validationError !== undefined) {
        const errors: FastifySchemaValidationError[] = request.validationError.validation ?? [];
        const issues = errors.map(issueOf);
        const detail =
          issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ') ||
          request.validationError.message;
        throw new HttpProblem(400, 'Bad Request', detail, { errors: issues });
      }
      const principal = principals.get(request)!;
      const body = request.body as ExposureBatchBody;
      const environment = await environmentOf(deps, principal, body.environment);
      const now = clock();
      const covered = new Map<string, boolean>();
      // perf: copies for the sinks only when there are sinks.
      const forwarding = sinks.length > 0;
      const forwarded: ForwardedExposure[] = [];
      const counts: { flag: string; variant: string; hour: number; count: number }[] = [];
      for (const event of body.events) {
        const { namespace } = splitKey(event.flag);
        let inScope = covered.get(namespace);
        if (inScope === undefined) {
          inScope = inNamespaces(principal, namespace);
          covered.set(namespace, inScope);
        }
        if (!inScope) {
          metrics.exposuresRefused.inc({ reason: 'namespace' });
          continue;
        }
        const given = event.time === undefined ? Number.NaN : Date.parse(event.time);
        const time = Number.isNaN(given) || given > now + FUTURE_TOLERANCE_MS ? now : given;
        // A sampled entry stands for the evaluations it was sampled from: an estimate, rounded.
        const count = Math.min(
          MAX_COUNT,
          Math.max(1, Math.round((event.count ?? 1) / (event.sampleRate ?? 1))),
        );
        const entry = { flag: event.flag, variant: event.variant, hour: hourOf(time), count };
        // One bad event is left out and counted; the rest of the batch is accepted.
        const issue = exposureProblem(entry);
        if (issue !== undefined) {
          metrics.exposuresRefused.inc({ reason: issue.path });
          continue;
        }
        counts.push(entry);
        if (forwarding) forwarded.push({ ...event, environment, time: new Date(time).toISOString(), count });
      }
      if (!aggregator.add(environment, counts)) {
        throw new HttpProblem(
          503,
          'Service Unavailable',
          'too many exposure counts are waiting to be written; send them again shortly',
          {},
          { 'retry-after': '1' },
        );
      }
      const dropped = body.events.length - counts.length;
      metrics.exposuresAccepted.inc({ environment }, counts.length);
      if (forwarded.length > 0) {
        const batch: ExposureBatch = {
          environment,
          receivedAt: new Date(now).toISOString(),
          events: forwarded,
        };
        for (const sink of sinks) {
          try {
            sink.accept(batch);
          } catch (error) {
            request.log.error({ err: error, sink: sink.name }, 'an exposure sink threw');
          }
        }
      }
      return reply
        .code(202)
        .send(dropped === 0 ? { accepted: counts.length } : { accepted: counts.length, dropped });
    },
  );

  app.get(
    '/api/v1/flags/:key/exposures',
    {
      schema: {
        tags: ['exposures'],
        summary: 'Hourly exposure counts per variant of a flag in an environment',
        querystring: {
          type: 'object',
          required: ['environment'],
          properties: {
            environment: { type: 'string', minLength: 1, maxLength: 64 },
            from: { type: 'string', format: 'date-time', description: 'default: 24 hours before `to`' },
            to: { type: 'string', format: 'date-time', description: 'default: now' },
          },
          additionalProperties: false,
        },
        response: {
          200: json(EXPOSURE_COUNTS, 'Counts per hour and variant, and their totals'),
          400: problem(
            400,
            `Bad Request: an invalid query, "from" not before "to", or over ${MAX_RANGE_HOURS} hours`,
          ),
          ...problems(401, 403, 404, 503),
        },
      },
    },
    async (request) => {
      const { key } = request.params as { key: string };
      const q = request.query as { environment: string; from?: string; to?: string };
      authorize(request.principal!, 'read', {
        namespace: splitKey(key).namespace,
        environment: q.environment,
      });
      const to = q.to === undefined ? clock() : Date.parse(q.to);
      const from = q.from === undefined ? to - 24 * HOUR_MS : Date.parse(q.from);
      if (!(from < to)) throw badRequest('"from" must be before "to"');
      if (to - hourOf(from) > MAX_RANGE_HOURS * HOUR_MS) {
        throw badRequest(`at most ${MAX_RANGE_HOURS} hours (${MAX_RANGE_HOURS / 24} days) at a time`);
      }
      if ((await store.flags.meta(key)) === undefined) {
        throw new HttpProblem(404, 'Not Found', `flag "${key}" does not exist`);
      }
      const counts = await store.exposures.read(key, q.environment, from, to);
      const items: { hour: string; counts: Record<string, number>; total: number }[] = [];
      const totals: Record<string, number> = {};
      let total = 0;
      for (const { hour, variant, count } of counts) {
        const iso = new Date(hour).toISOString();
        let item = items[items.length - 1];
        if (item?.hour !== iso) {
          item = { hour: iso, counts: {}, total: 0 };
          items.push(item);
        }
        item.counts[variant] = count;
        item.total += count;
        totals[variant] = (totals[variant] ?? 0) + count;
        total += count;
      }
      return {
        flag: key,
        environment: q.environment,
        from: new Date(hourOf(from)).toISOString(),
        to: new Date(to).toISOString(),
        items,
        totals,
        total,
      };
    },
  );
}
