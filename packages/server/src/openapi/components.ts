/**
 * The shared schemas of the OpenAPI document (`components.schemas`): what the API answers, as TypeBox.
 * Route schemas reference them as `{ $ref: 'Name#' }`; @fastify/swagger renders each under its `$id`.
 *
 * Each one describes a type of the store (packages/store/src/records.ts, flags.ts, tokens.ts, ledger.ts)
 * and the type-level checks at the end of this file fail to compile when a schema and its type drift apart.
 * The policy document's parts (a flag's identity, an environment's state, a segment's state) are the
 * core's own schemas, the ones published in spec/schema, never retyped here.
 *
 * Objects the store closes are closed here (`additionalProperties: false`), so that openapi.test.ts, which
 * validates real responses against this document, notices a field the document does not name.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import {
  EnvironmentState as CoreEnvironmentState,
  SegmentState as CoreSegmentState,
  FlagDocument,
  SegmentDocument,
} from '@switchyard/core';
import type {
  ChangeEvent,
  EnvironmentRecord,
  FlagMeta as StoreFlagMeta,
  FlagView as StoreFlagView,
  SegmentView as StoreSegmentView,
  StateRecord as StoreStateRecord,
  TokenRecord,
  VerifyResult,
} from '@switchyard/store';
import type { FastifyInstance } from 'fastify';

/** A reference to a shared schema, typed as the schema it names. */
function ref<T extends TSchema>(schema: T) {
  if (schema.$id === undefined) throw new Error('only a shared schema, with an $id, is referenced');
  return Type.Unsafe<Static<T>>({ $ref: `${schema.$id}#` });
}

const DateTime = (description?: string) =>
  Type.String({ format: 'date-time', ...(description === undefined ? {} : { description }) });
const Version = (description: string) => Type.Integer({ minimum: 1, description });

export const ValidationIssue = Type.Object(
  {
    document: Type.Optional(
      Type.String({ description: 'the key (or index) of the document, when a request held several' }),
    ),
    path: Type.String({ description: 'where, e.g. `environments.production.rules[0].when[0].op`' }),
    message: Type.String(),
  },
  { additionalProperties: false },
);

export const Problem = Type.Object(
  {
    type: Type.String({ description: '`about:blank`: the status and title say what happened' }),
    title: Type.String({ description: "the status's reason phrase, e.g. `Not Found`" }),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String({ description: 'what went wrong with this request, in a sentence' }),
    instance: Type.String({ description: 'the path (and query) of the request' }),
    requestId: Type.String({
      description: 'the request id of the server’s log, from `X-Request-Id` if sent',
    }),
    errors: Type.Optional(
      Type.Array(ValidationIssue, {
        description: 'the located issues of an invalid document or request body (400, 422)',
      }),
    ),
    currentVersion: Type.Optional(
      Type.Integer({ description: 'on a version conflict (409): the version the thing is at now' }),
    ),
  },
  {
    $id: 'Problem',
    description:
      'An error, as RFC 9457 problem details (`application/problem+json`). Members beyond these may be added.',
  },
);

export const EnvironmentState = Type.Unsafe<Static<typeof CoreEnvironmentState>>({
  ...CoreEnvironmentState,
  $id: 'EnvironmentState',
});

export const SegmentState = Type.Unsafe<Static<typeof CoreSegmentState>>({
  ...CoreSegmentState,
  $id: 'SegmentState',
});

const {
  environments: _flagEnvironments,
  schemaVersion: _flagSchemaVersion,
  kind: _flagKind,
  ...flagIdentity
} = FlagDocument.properties;

export const FlagMeta = Type.Object(
  {
    ...flagIdentity,
    version: Version('the version of the metadata; `If-Match` of PATCH names it'),
    createdAt: DateTime(),
    createdBy: Type.String(),
    updatedAt: DateTime(),
    archivedAt: Type.Optional(DateTime('set while the flag is archived')),
  },
  {
    $id: 'FlagMeta',
    additionalProperties: false,
    description:
      'A flag’s identity and metadata, without its states: the fields of its document (spec/schema/flag.schema.json) but `environments`, with versions and times. The variation values of a `sensitive` flag read as the string `"[sensitive]"` (the redacted marker) unless the token has `readSensitive`.',
  },
);

export const StateRecord = Type.Object(
  {
    key: Type.String({ description: 'the flag key' }),
    environment: Type.String(),
    version: Version('the version of the state, its ETag; `If-Match` names it'),
    state: ref(EnvironmentState),
    updatedAt: DateTime(),
    updatedBy: Type.String(),
  },
  { $id: 'StateRecord', additionalProperties: false, description: 'A flag’s state in one environment.' },
);

export const FlagView = Type.Object(
  {
    meta: ref(FlagMeta),
    states: Type.Record(Type.String(), ref(StateRecord), {
      description: 'by environment: those within the token’s environment scope',
    }),
  },
  {
    $id: 'FlagView',
    additionalProperties: false,
    description: 'A flag with its state in every environment.',
  },
);

const {
  environments: _segmentEnvironments,
  schemaVersion: _segmentSchemaVersion,
  ...segmentIdentity
} = SegmentDocument.properties;

export const SegmentMeta = Type.Object(
  {
    ...segmentIdentity,
    version: Version('the version of the segment’s identity'),
    createdAt: DateTime(),
    createdBy: Type.String(),
  },
  {
    $id: 'SegmentMeta',
    additionalProperties: false,
    description: 'A segment’s identity (spec/schema/segment.schema.json but `environments`).',
  },
);

export const SegmentStateRecord = Type.Object(
  {
    key: Type.String({ description: 'the segment key' }),
    environment: Type.String(),
    version: Version('the version of the state, its ETag; `If-Match` names it'),
    state: ref(SegmentState),
    updatedAt: DateTime(),
    updatedBy: Type.String(),
  },
  {
    $id: 'SegmentStateRecord',
    additionalProperties: false,
    description: 'A segment’s state in one environment.',
  },
);

export const SegmentView = Type.Object(
  {
    meta: ref(SegmentMeta),
    states: Type.Record(Type.String(), ref(SegmentStateRecord), {
      description: 'by environment: those within the token’s environment scope',
    }),
  },
  { $id: 'SegmentView', additionalProperties: false, description: 'A segment with its state everywhere.' },
);

export const Event = Type.Object(
  {
    namespace: Type.String(),
    seq: Type.Integer({ minimum: 1, description: 'its place in the namespace’s ledger, without gaps' }),
    prevHash: Type.String({ description: 'the hash of the event before (64 zeros for the first)' }),
    hash: Type.String({ description: 'SHA-256 chaining this event to the one before' }),
    time: DateTime(),
    actor: Type.String({ description: 'the token’s name and id' }),
    action: Type.String({ description: 'e.g. `flag.create`, `state.enable`, `token.revoke`' }),
    flag: Type.Optional(Type.String()),
    segment: Type.Optional(Type.String()),
    environment: Type.Optional(Type.String()),
    fromVersion: Type.Optional(Type.Integer()),
    toVersion: Type.Optional(Type.Integer()),
    patch: Type.Optional(
      Type.Unknown({
        description:
          'a JSON Merge Patch (RFC 7386) from the old value to the new; sensitive values redacted. Absent when the event is about an environment outside the token’s scope; documents in it list only the environments within that scope',
      }),
    ),
    reason: Type.Optional(Type.String({ description: 'the `X-Change-Reason` of the change' })),
  },
  {
    $id: 'Event',
    additionalProperties: false,
    description: 'A change in the ledger: what changed, who changed it and why, and its place in the chain.',
  },
);

export const LedgerVerification = Type.Object(
  {
    ok: Type.Boolean(),
    checked: Type.Integer({ minimum: 0, description: 'events checked' }),
    head: Type.Object(
      { seq: Type.Integer({ minimum: 0 }), hash: Type.String() },
      { additionalProperties: false },
    ),
    problem: Type.Optional(
      Type.Object(
        { seq: Type.Integer(), reason: Type.String() },
        { additionalProperties: false, description: 'the first broken event and why, when not ok' },
      ),
    ),
  },
  {
    $id: 'LedgerVerification',
    additionalProperties: false,
    description: 'Whether a namespace’s ledger chain is intact.',
  },
);

export const Environment = Type.Object(
  {
    name: Type.String(),
    protected: Type.Boolean({
      description: 'only publisher and admin tokens change a protected environment',
    }),
    description: Type.Optional(Type.String()),
    createdAt: DateTime(),
  },
  { $id: 'Environment', additionalProperties: false },
);

const tokenFields = {
  id: Type.String({ description: 'the public part of the token, `sy_<id>_…`' }),
  name: Type.String(),
  role: Type.String({ description: 'viewer, editor, publisher, admin, sdk-server or sdk-client' }),
  scopes: Type.Record(Type.String(), Type.Array(Type.String()), {
    description:
      '`namespaces` (canonical namespaces, each covering itself and the namespaces under it) and `environments` the token is limited to; empty lists for all',
  }),
  readSensitive: Type.Optional(
    Type.Boolean({
      description:
        'whether the token reads decrypted sensitive variation values (others read the marker `"[sensitive]"`)',
    }),
  ),
  createdAt: DateTime(),
  createdBy: Type.String(),
  expiresAt: Type.Optional(DateTime()),
  revokedAt: Type.Optional(DateTime()),
};

export const Token = Type.Object(tokenFields, {
  $id: 'Token',
  additionalProperties: false,
  description: 'An API token or SDK key, without its secret.',
});

export const NewToken = Type.Object(
  { ...tokenFields, token: Type.String({ description: 'the token itself, shown this once' }) },
  { $id: 'NewToken', additionalProperties: false, description: 'A token just created, with its value.' },
);

/** Every shared schema, in an order where each comes after those it references. */
export const COMPONENTS = [
  Problem,
  EnvironmentState,
  SegmentState,
  FlagMeta,
  StateRecord,
  FlagView,
  SegmentMeta,
  SegmentStateRecord,
  SegmentView,
  Event,
  LedgerVerification,
  Environment,
  Token,
  NewToken,
] as const;

/** Adds the shared schemas an app does not have yet (the server, and relays that mount delivery). */
export function addComponents(app: FastifyInstance, schemas: readonly TSchema[] = COMPONENTS): void {
  const known = app.getSchemas() as Record<string, unknown>;
  for (const schema of schemas) {
    if (typeof schema.$id === 'string' && known[schema.$id] === undefined) app.addSchema(schema);
  }
}

// ---- the schemas describe the store's types, both ways ----

/** Mutually assignable, with the same fields (assignability alone overlooks a missing optional field). */
type Same<A, B> = [A, keyof A] extends [B, keyof B]
  ? [B, keyof B] extends [A, keyof A]
    ? true
    : false
  : false;

const describesTheStore: [
  Same<Static<typeof FlagMeta>, StoreFlagMeta>,
  Same<Static<typeof StateRecord>, StoreStateRecord>,
  Same<Static<typeof FlagView>, StoreFlagView>,
  Same<Static<typeof SegmentMeta>, StoreSegmentView['meta']>,
  Same<Static<typeof SegmentStateRecord>, StoreSegmentView['states'][string]>,
  Same<Static<typeof SegmentView>, StoreSegmentView>,
  Same<Static<typeof Event>, ChangeEvent>,
  Same<Static<typeof LedgerVerification>, VerifyResult>,
  Same<Static<typeof Environment>, EnvironmentRecord>,
  Same<
    Static<typeof Token>,
    Omit<TokenRecord, 'secretHash' | 'scopes'> & { scopes: Record<string, string[]> }
  >,
] = [true, true, true, true, true, true, true, true, true, true];
void describesTheStore;
