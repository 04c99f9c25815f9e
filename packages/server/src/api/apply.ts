/**
 * `POST /api/v1/apply`: a set of flag documents (flags-as-code), as a dry-run plan or applied. New flags are
 * created in bulk; existing ones get their metadata and each named environment's state updated at the
 * version read (a concurrent change makes that flag's update a conflict). A flag's type and variations are
 * its identity and never change through apply.
 */
import {
  type EnvironmentState,
  type FlagDocument,
  formatIssues,
  splitKey,
  validateFlag,
} from '@switchyard/core';
import { type FlagMeta, withoutVersion } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';
import { authorize } from '../governance/access.js';
import { checkForeignReferences } from '../governance/references.js';
import { visibleMeta } from '../governance/visibility.js';
import { json, problem, problems } from '../openapi/responses.js';
import { HttpProblem } from '../problems.js';
import { changeContext, type RouteDeps } from './flags.js';

const META_FIELDS = ['description', 'tags', 'owner', 'lifecycle', 'removeBy'] as const;

interface Plan {
  create: FlagDocument[];
  updateMeta: { key: string; version: number; patch: Partial<FlagMeta> }[];
  updateState: { key: string; environment: string; version: number; state: EnvironmentState }[];
  unchanged: number;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const SUMMARY = {
  type: 'object',
  required: ['dryRun', 'created', 'updated', 'unchanged'],
  properties: {
    dryRun: { type: 'boolean', description: 'true: nothing was changed, this is the plan' },
    created: { type: 'array', items: { type: 'string' }, description: 'keys of the flags created' },
    updated: {
      type: 'array',
      description: 'each metadata change and each environment state replaced',
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['key', 'metadata'],
            properties: {
              key: { type: 'string' },
              metadata: { type: 'array', items: { type: 'string' }, description: 'the fields changed' },
            },
            additionalProperties: false,
          },
          {
            type: 'object',
            required: ['key', 'environment', 'fromVersion'],
            properties: {
              key: { type: 'string' },
              environment: { type: 'string', description: 'the environment whose state was replaced' },
              fromVersion: { type: 'integer', description: 'the version of the state replaced' },
            },
            additionalProperties: false,
          },
        ],
      },
    },
    unchanged: { type: 'integer', minimum: 0, description: 'flags already as their documents say' },
  },
  additionalProperties: false,
};

export function applyRoutes(app: FastifyInstance, { store }: RouteDeps): void {
  app.post(
    '/api/v1/apply',
    {
      bodyLimit: 64 * 1024 * 1024,
      schema: {
        tags: ['flags'],
        summary: 'Apply flag documents (flags-as-code); with dryRun, only the plan',
        body: {
          type: 'object',
          required: ['documents'],
          properties: {
            documents: { type: 'array', maxItems: 100_000, items: { type: 'object' } },
            dryRun: { type: 'boolean' },
            reason: { type: 'string' },
          },
          additionalProperties: false,
        },
        response: {
          200: json(SUMMARY, 'What was (or, with dryRun, would be) created and updated'),
          ...problems(400, 401, 403),
          409: problem(409, 'Conflict: a flag changed meanwhile, or already exists'),
          413: problem(413, 'Content Too Large: the body is over 64 MiB'),
          422: problem(
            422,
            'Unprocessable Content: invalid documents, a key twice, or a changed type or variations; `errors` locates each issue',
          ),
          ...problems(415, 429, 503),
        },
      },
    },
    async (request) => {
      const { documents, dryRun } = request.body as { documents: unknown[]; dryRun?: boolean };
      const principal = request.principal!;
      const environments = await store.flags.environments();
      const protectedEnvironments = new Set(environments.filter((e) => e.protected).map((e) => e.name));
      const docs: FlagDocument[] = [];
      const issues: { document: string; path: string; message: string }[] = [];
      const seen = new Set<string>();
      documents.forEach((document, index) => {
        const checked = validateFlag(document);
        const label =
          typeof (document as { key?: unknown }).key === 'string'
            ? (document as { key: string }).key
            : `documents[${index}]`;
        if (!checked.ok) {
          issues.push(...checked.issues.map((i) => ({ document: label, ...i })));
        } else if (seen.has(checked.value.key)) {
          issues.push({ document: label, path: 'key', message: 'the same key appears twice in this apply' });
        } else {
          seen.add(checked.value.key);
          docs.push(checked.value);
        }
      });
      if (issues.length > 0) {
        throw new HttpProblem(422, 'Unprocessable Content', formatIssues(issues), { errors: issues });
      }
      // Every item as its own write would be: its namespace, each environment it names, its references.
      for (const doc of docs) {
        const named = Object.keys(doc.environments);
        authorize(principal, 'write', {
          namespace: splitKey(doc.key).namespace,
          environments: named,
          protectedEnvironment: named.some((environment) => protectedEnvironments.has(environment)),
        });
      }
      for (const doc of docs) await checkForeignReferences(store, principal, doc.key, doc.environments);

      const plan: Plan = { create: [], updateMeta: [], updateState: [], unchanged: 0 };
      for (const doc of docs) {
        const current = await store.flags.get(doc.key);
        if (current === undefined) {
          // As POST /api/v1/flags: a new flag is served in every environment.
          authorize(principal, 'write', { namespace: splitKey(doc.key).namespace, everyEnvironment: true });
          plan.create.push(doc);
          continue;
        }
        // Compared as the principal reads them: a token that sees "[sensitive]" gives that, and whatever
        // else it gives is refused alike, so an apply cannot confirm a guess of a sensitive value.
        const variations = visibleMeta(principal, current.meta).variations;
        if (current.meta.type !== doc.type || !same(variations, doc.variations)) {
          issues.push({
            document: doc.key,
            path: current.meta.type !== doc.type ? 'type' : 'variations',
            message: 'a flag’s type and variations are its identity and cannot change; create a new flag',
          });
          continue;
        }
        let changed = false;
        const patch: Partial<FlagMeta> = {};
        for (const field of META_FIELDS) {
          if (!same(current.meta[field], doc[field])) (patch as Record<string, unknown>)[field] = doc[field];
        }
        if (Object.keys(patch).length > 0) {
          plan.updateMeta.push({ key: doc.key, version: current.meta.version, patch });
          changed = true;
        }
        for (const [environment, state] of Object.entries(doc.environments)) {
          const stored = current.states[environment];
          if (stored !== undefined && !same(withoutVersion(stored.state), withoutVersion(state))) {
            plan.updateState.push({
              key: doc.key,
              environment,
              version: stored.version,
              state: withoutVersion(state),
            });
            changed = true;
          }
        }
        if (!changed) plan.unchanged++;
      }
      if (issues.length > 0) {
        throw new HttpProblem(422, 'Unprocessable Content', formatIssues(issues), { errors: issues });
      }
      const summary = {
        dryRun: dryRun === true,
        created: plan.create.map((d) => d.key),
        updated: [
          ...plan.updateMeta.map((u) => ({ key: u.key, metadata: Object.keys(u.patch) })),
          ...plan.updateState.map((u) => ({
            key: u.key,
            environment: u.environment,
            fromVersion: u.version,
          })),
        ],
        unchanged: plan.unchanged,
      };
      if (dryRun === true) return summary;

      // One apply is many changes: an idempotency key would name only one of them.
      const { idempotencyKey: _key, ...context } = changeContext(request);
      if (plan.create.length > 0) await store.flags.createMany(plan.create, context);
      for (const u of plan.updateMeta) await store.flags.updateMeta(u.key, u.version, u.patch, context);
      for (const u of plan.updateState) {
        await store.flags.updateState(
          u.key,
          u.environment,
          { expectedVersion: u.version, state: u.state, action: 'state.apply' },
          context,
        );
      }
      return summary;
    },
  );
}
