/**
 * OFREP, the OpenFeature Remote Evaluation Protocol: single and bulk evaluation over HTTP, answered by
 * the core engine from the in-memory views, so any OpenFeature SDK with an OFREP provider can use
 * Switchyard. Success and failure bodies follow the protocol's OpenAPI document.
 */
import { createHash } from 'node:crypto';
import { type EvaluationResult, names, splitKey } from '@switchyard/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { readsSensitive } from '../governance/access.js';
import { empty, json, problem, problems, ref, serializeAsIs } from '../openapi/responses.js';
import { HttpProblem } from '../problems.js';
import { authenticateFirst, mayRead, principalOf } from './auth.js';
import { etagMatches, etagOf } from './frames.js';
import type { EnvironmentScope } from './hub.js';
import type { DeliveryMetrics } from './metrics.js';
import { type DeliveryDeps, existingEnvironment, viewsFor } from './routes.js';

/** Flags a bulk evaluation may cover; select namespaces to stay below. */
const MAX_BULK_FLAGS = 10_000;
const MAX_CONTEXT_BYTES = 64 * 1024;

type OfrepBody =
  | {
      key: string;
      value: unknown;
      reason: string;
      variant: string | undefined;
      metadata: Record<string, string | number>;
    }
  | { key: string; errorCode: string; errorDetails: string };

const SUCCESS = {
  type: 'object',
  required: ['key', 'value', 'reason', 'metadata'],
  properties: {
    key: { type: 'string' },
    value: { description: 'the value served, of the flag’s type' },
    reason: { type: 'string', description: 'an OpenFeature reason, e.g. TARGETING_MATCH, SPLIT, DISABLED' },
    variant: { type: 'string' },
    metadata: {
      type: 'object',
      required: ['version'],
      properties: {
        version: { type: 'integer', description: 'the version of the flag state evaluated' },
        ruleId: { type: 'string', description: 'the rule that served, if one did' },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

const ERROR_CODES = [
  'FLAG_NOT_FOUND',
  'TYPE_MISMATCH',
  'TARGETING_KEY_MISSING',
  'PARSE_ERROR',
  'INVALID_CONTEXT',
  'GENERAL',
];

const failure = (withKey: boolean) => ({
  type: 'object',
  required: [...(withKey ? ['key'] : []), 'errorCode', 'errorDetails'],
  properties: {
    ...(withKey ? { key: { type: 'string' } } : {}),
    errorCode: { type: 'string', enum: ERROR_CODES },
    errorDetails: { type: 'string' },
  },
  additionalProperties: false,
});

const BULK = {
  type: 'object',
  required: ['flags'],
  properties: { flags: { type: 'array', items: { oneOf: [SUCCESS, failure(true)] } } },
  additionalProperties: false,
};

const BULK_ETAG = {
  etag: { type: 'string', description: 'the data and context evaluated; send it as If-None-Match' },
};

/** OFREP's own error bodies (application/json), and problem+json for what OFREP leaves to the server. */
const ofrepFailure = (withKey: boolean, description: string) => ({
  description,
  content: {
    'application/json': { schema: failure(withKey) },
    'application/problem+json': { schema: ref('Problem') },
  },
});

function contextOf(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new OfrepRequestError('INVALID_CONTEXT', 'the body must be a JSON object {"context": {…}}');
  }
  const context = (body as { context?: unknown }).context;
  if (context === undefined) return {};
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    throw new OfrepRequestError('INVALID_CONTEXT', 'context must be a JSON object');
  }
  // The targeting key goes to the engine as sent: targets and segments match it only as a string, and a
  // rollout buckets a string or a finite number (anything else is TARGETING_KEY_MISSING there).
  return context as Record<string, unknown>;
}

class OfrepRequestError extends Error {
  constructor(
    readonly errorCode: string,
    readonly errorDetails: string,
  ) {
    super(errorDetails);
  }
}

function toBody(key: string, result: EvaluationResult): OfrepBody {
  if (result.errorCode !== undefined) {
    return { key, errorCode: result.errorCode, errorDetails: result.errorMessage ?? result.errorCode };
  }
  const metadata: Record<string, string | number> = { version: result.version };
  if (result.ruleId !== undefined) metadata.ruleId = result.ruleId;
  return { key, value: result.value, reason: result.reason, variant: result.variant, metadata };
}

/** What `evaluateLoaded` answers when the flag's own namespace is not loaded. */
const NOT_LOADED = Symbol('not loaded');

/** Rounds of loading what an evaluation found missing, at most, before it gives up. */
const LOAD_ROUNDS = 4;

type Evaluated = EvaluationResult | undefined;

/**
 * Evaluates a flag with its own type from what is in memory, without a promise: `NOT_LOADED` when its
 * namespace is not, and otherwise the result, with the namespaces its prerequisites or segments needed but
 * found unloaded left in `scope.missing`. `namespace` is the key's.
 */
function evaluateLoaded(
  scope: EnvironmentScope,
  key: string,
  namespace: string,
  context: Record<string, unknown>,
): Evaluated | typeof NOT_LOADED {
  scope.missing.clear();
  const engine = scope.loadedEngine(namespace);
  if (engine === undefined) return NOT_LOADED;
  const flag = engine.flag(key);
  return flag === undefined ? undefined : engine.evaluate(key, flag.type, context, undefined);
}

/**
 * Evaluates a flag (undefined when there is no such flag). `namespace` is the key's. When all it needs is
 * in memory (the usual case) the result comes without a promise; otherwise a promise of it, once the
 * namespaces it needs are loaded: its own, then those of prerequisites and segments.
 */
function evaluate(
  deps: DeliveryDeps,
  scope: EnvironmentScope,
  key: string,
  namespace: string,
  context: Record<string, unknown>,
): Evaluated | Promise<Evaluated> {
  const result = evaluateLoaded(scope, key, namespace, context);
  if (result !== NOT_LOADED && scope.missing.size === 0) return result;
  return loadThenEvaluate(deps, scope, key, namespace, context, result);
}

/**
 * Loads the namespaces the evaluation that gave `found` lacked (its own when `NOT_LOADED`, else those left
 * in `scope.missing`, read before any await), then evaluates again, for up to `LOAD_ROUNDS` rounds.
 */
async function loadThenEvaluate(
  deps: DeliveryDeps,
  scope: EnvironmentScope,
  key: string,
  namespace: string,
  context: Record<string, unknown>,
  found: Evaluated | typeof NOT_LOADED,
): Promise<Evaluated> {
  let result = found;
  for (let round = 1; ; round++) {
    const needed = result === NOT_LOADED ? [namespace] : [...scope.missing];
    const loaded = await Promise.all(needed.map((ns) => deps.hub.existing(scope.environment, ns)));
    // Namespaces that do not exist: what was found is the answer.
    if (loaded.every((view) => view === undefined)) return result === NOT_LOADED ? undefined : result;
    if (round === LOAD_ROUNDS) return undefined;
    result = evaluateLoaded(scope, key, namespace, context);
    if (result !== NOT_LOADED && scope.missing.size === 0) return result;
  }
}

/**
 * A flag left out of its namespace's view because its stored record is damaged is answered with a 503
 * that says so (never "no such flag"), naming no internal record: /readyz has the detail for operators.
 */
async function refuseDamaged(deps: DeliveryDeps, environment: string, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  // Only in a namespace that exists (its view is loaded): unknown names read nothing from the source.
  if (deps.hub.loaded(environment, namespace) === undefined) return;
  if ((await deps.hub.source.damaged?.(namespace, environment, name)) !== true) return;
  throw new HttpProblem(
    503,
    'Service Unavailable',
    `flag "${key}" cannot be evaluated: its stored record is damaged; see /readyz`,
  );
}

function sendOfrepError(reply: FastifyReply, status: number, body: Record<string, unknown>) {
  return reply.code(status).type('application/json').send(body);
}

export function ofrepRoutes(app: FastifyInstance, deps: DeliveryDeps, metrics?: DeliveryMetrics): void {
  // Every OFREP route authenticates before anything else, its body included.
  const onRequest = authenticateFirst(deps.authenticate);
  // perf: counters bound to their labels once, not hashed per evaluation.
  const counters = new Map<string, { inc(): void }>();
  const count = (outcome: string) => {
    if (metrics === undefined) return;
    let counter = counters.get(outcome);
    if (counter === undefined) {
      counter = metrics.evaluations.labels({ region: metrics.region, outcome });
      counters.set(outcome, counter);
    }
    counter.inc();
  };

  // OFREP's optional configuration: what providers should know of this server before they evaluate.
  const configuration = {
    name: 'switchyard',
    capabilities: {
      cacheInvalidation: { polling: { enabled: true, minPollingIntervalMs: 1000 } },
      flagEvaluation: { supportedTypes: ['boolean', 'string', 'int', 'float', 'object'] },
      caching: { enabled: false },
    },
  };
  const configurationTag = `"${createHash('sha256').update(JSON.stringify(configuration)).digest('base64url').slice(0, 16)}"`;
  app.get(
    '/ofrep/v1/configuration',
    { onRequest, logLevel: 'warn', schema: { tags: ['ofrep'], summary: 'OFREP provider configuration' } },
    async (request, reply) => {
      reply.header('etag', configurationTag);
      if (etagMatches(request.headers['if-none-match'], configurationTag)) return reply.code(304).send();
      return reply.type('application/json').send(configuration);
    },
  );

  app.post(
    // Flag keys hold "/": OFREP clients send them encoded or not, so the key is the rest of the path.
    '/ofrep/v1/evaluate/flags/*',
    {
      onRequest,
      bodyLimit: MAX_CONTEXT_BYTES,
      // perf: evaluations are the hottest route; their request lines are not logged (errors still are).
      logLevel: 'warn',
      schema: {
        tags: ['ofrep'],
        summary: 'OFREP single flag evaluation',
        params: { type: 'object', properties: { '*': { type: 'string', minLength: 1, maxLength: 1024 } } },
        response: {
          200: json(SUCCESS, 'The evaluation'),
          400: ofrepFailure(
            true,
            'Bad Request: an invalid context, or an evaluation error (OFREP body); an invalid request (problem)',
          ),
          403: problem(
            403,
            'Forbidden: the flag, or the environment, is outside the key’s, or the flag holds sensitive values the key may not receive',
          ),
          404: ofrepFailure(
            true,
            'Not Found: no such flag in the environment (OFREP body); no such environment (problem)',
          ),
          413: problem(413, 'Content Too Large: the body is over 64 KiB'),
          429: problem(429, 'Too Many Requests: over the key’s evaluations per second'),
          ...problems(401, 415, 503),
        },
      },
      serializerCompiler: serializeAsIs,
    },
    async (request, reply) => {
      const key = (request.params as { '*': string })['*'];
      const principal = principalOf(request);
      deps.limiter?.take(principal.tokenId, undefined);
      const known = existingEnvironment(deps, principal, 'evaluate', (request.query as { env?: string }).env);
      // perf: an environment known to exist is answered without waiting on a promise.
      const environment = typeof known === 'string' ? known : await known;
      let context: Record<string, unknown>;
      try {
        context = contextOf(request.body);
      } catch (error) {
        count('error');
        const e = error as OfrepRequestError;
        return sendOfrepError(reply, 400, { key, errorCode: e.errorCode, errorDetails: e.errorDetails });
      }
      const { namespace } = splitKey(key);
      if (!mayRead(principal, namespace)) {
        throw new HttpProblem(403, 'Forbidden', `flag "${key}" is outside this key's namespaces`);
      }
      const scope = deps.hub.scope(environment);
      const evaluated = evaluate(deps, scope, key, namespace, context);
      // perf: the usual case (all it needs in memory) is answered without awaiting a promise.
      const result = evaluated instanceof Promise ? await evaluated : evaluated;
      if (
        result !== undefined &&
        !readsSensitive(principal) &&
        deps.hub.loaded(environment, namespace)?.isSensitive(key) === true
      ) {
        count('forbidden');
        throw new HttpProblem(
          403,
          'Forbidden',
          `flag "${key}" holds sensitive values, which only sdk-server keys and tokens allowed to read them receive`,
        );
      }
      if (result === undefined || result.errorCode === 'FLAG_NOT_FOUND') {
        await refuseDamaged(deps, environment, key);
        count('not_found');
        return sendOfrepError(reply, 404, {
          key,
          errorCode: 'FLAG_NOT_FOUND',
          errorDetails: `flag "${key}" does not exist in environment "${environment}"`,
        });
      }
      const body = toBody(key, result);
      if ('errorCode' in body) {
        count('error');
        return sendOfrepError(reply, 400, body);
      }
      count('ok');
      return reply.type('application/json').send(body);
    },
  );

  app.post(
    '/ofrep/v1/evaluate/flags',
    {
      onRequest,
      bodyLimit: MAX_CONTEXT_BYTES,
      // perf: evaluations are the hottest route; their request lines are not logged (errors still are).
      logLevel: 'warn',
      schema: {
        tags: ['ofrep'],
        summary: 'OFREP bulk evaluation of every flag in the key’s (or the selected) namespaces',
        querystring: {
          type: 'object',
          properties: {
            env: { type: 'string', maxLength: names.ENVIRONMENT.maxLength },
            namespaces: { type: 'string', maxLength: 65536 },
          },
          additionalProperties: false,
        },
        response: {
          200: json(BULK, 'Every flag of the selection, evaluated (failures in place)', BULK_ETAG),
          304: empty('Not Modified: If-None-Match names the current ETag', BULK_ETAG),
          400: ofrepFailure(
            false,
            'Bad Request: an invalid context, or too many flags selected (OFREP body); an invalid request (problem)',
          ),
          403: problem(403, 'Forbidden: an environment or namespace outside the key’s'),
          404: problem(404, 'Not Found: no such environment'),
          413: problem(413, 'Content Too Large: the body is over 64 KiB'),
          429: problem(429, 'Too Many Requests: over the key’s evaluations per second'),
          ...problems(401, 415, 503),
        },
      },
      serializerCompiler: serializeAsIs,
    },
    async (request, reply) => {
      const query = request.query as { env?: string; namespaces?: string };
      const principal = principalOf(request);
      deps.limiter?.take(principal.tokenId, undefined);
      const environment = await existingEnvironment(deps, principal, 'evaluate', query.env);
      const sensitiveToo = readsSensitive(principal);
      let context: Record<string, unknown>;
      try {
        context = contextOf(request.body);
      } catch (error) {
        const e = error as OfrepRequestError;
        return sendOfrepError(reply, 400, { errorCode: e.errorCode, errorDetails: e.errorDetails });
      }
      const { views } = await viewsFor(deps, principal, environment, query.namespaces);
      let total = 0;
      for (const view of views) total += view.records;
      if (total > MAX_BULK_FLAGS) {
        return sendOfrepError(reply, 400, {
          errorCode: 'GENERAL',
          errorDetails: `the selection holds ${total} records, more than the ${MAX_BULK_FLAGS} a bulk evaluation covers; select namespaces with ?namespaces=…`,
        });
      }
      const etag = etagOf(environment, views, JSON.stringify(context));
      reply.header('etag', etag);
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
      const scope = deps.hub.scope(environment);
      const flags: OfrepBody[] = [];
      for (const view of views) {
        let engine = scope.loadedEngine(view.namespace);
        if (engine === undefined) {
          // Reloaded since it was selected: listed once it is loaded again.
          await deps.hub.view(environment, view.namespace);
          engine = scope.loadedEngine(view.namespace);
          if (engine === undefined) continue;
        }
        const current = deps.hub.loaded(environment, view.namespace) ?? view;
        for (const key of [...engine.flagKeys()].sort()) {
          // Flags with sensitive values are left out for those who may not read them.
          if (!sensitiveToo && current.isSensitive(key)) continue;
          const evaluated = evaluate(deps, scope, key, view.namespace, context);
          // perf: up to 10,000 flags, each awaited only when it needs a namespace loaded.
          const result = evaluated instanceof Promise ? await evaluated : evaluated;
          if (result !== undefined) flags.push(toBody(key, result));
        }
      }
      count('bulk');
      return reply.type('application/json').send({ flags });
    },
  );
}
