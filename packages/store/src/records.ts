/**
 * What the store keeps, where, and how it is encoded. Every value is JSON with a schema version `_v`,
 * so that a record written by a newer Switchyard, or damaged on disk, gives a clear error instead of a
 * wrong answer.
 *
 * Paths within a namespace (names are flag or segment names, the last segment of their key):
 *   flag/{name}                        identity and metadata (version: metadata version)
 *   state/{env}/{name}                 current state (version: the state's version); absent while the
 *                                      flag has its implicit initial state there (`implicitState`)
 *   history/{env}/{name}/{version}     earlier states, version zero-padded to sort
 *   idem/{key}                         idempotency records
 *   idx/tag/{tag}/{name}               secondary indexes, written in the same commit as what they index
 *   idx/text/{token}/{name}
 *   idx/on/{env}/{name}                the flag is enabled in env (before region overrides)
 *   idx/region/{env}/{region}/{name}   value "1" or "0": a region override of `enabled`
 *   idx/scheduled/{env}/{name}         the state has a schedule, so "enabled at T" needs evaluating
 *   segment/{name}, segstate/{env}/{name}
 */
import type { EnvironmentState, FlagDocument, SegmentDocument, SegmentState } from '@switchyard/core';
import { CorruptRecordError } from './errors.js';
import type { Sealed } from './sensitive.js';

export const RECORD_SCHEMA_VERSION = 1;

/** A flag's identity and metadata, without its states. */
export type FlagMeta = Omit<FlagDocument, 'environments' | 'schemaVersion' | 'kind'> & {
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  /** Set while the flag is archived. */
  archivedAt?: string;
};

/** A flag's state in one environment, as stored. */
export interface StateRecord {
  key: string;
  environment: string;
  version: number;
  state: EnvironmentState;
  updatedAt: string;
  updatedBy: string;
}

export type SegmentMeta = Omit<SegmentDocument, 'environments' | 'schemaVersion'> & {
  version: number;
  createdAt: string;
  createdBy: string;
};

export interface SegmentStateRecord {
  key: string;
  environment: string;
  version: number;
  state: SegmentState;
  updatedAt: string;
  updatedBy: string;
}

/** The event body: what changed, who changed it and why. Its place in the chain comes from the ledger. */
export interface EventBody {
  time: string;
  actor: string;
  action: string;
  flag?: string;
  segment?: string;
  environment?: string;
  fromVersion?: number;
  toVersion?: number;
  /** A JSON Merge Patch (RFC 7386) from the old value to the new. */
  patch?: unknown;
  reason?: string;
}

export interface ChangeEvent extends EventBody {
  namespace: string;
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * What an idempotency key remembers until `expiresAt`: a hash of the request and its first answer. With
 * a keyring, both are kept only `sealed` (the answer may hold sensitive values or a new token's value).
 * Without one, they are kept in the clear, unless the answer held a secret: then only the request's hash
 * is kept, `withheld`, and a retry is refused rather than the secret stored readable.
 */
export interface IdempotencyRecord {
  expiresAt: number;
  requestHash?: string;
  response?: unknown;
  /** `{ requestHash, response }` sealed with the store's keyring (sensitive.ts). */
  sealed?: Sealed;
  /** The answer held a secret and no keyring could seal it: it was not kept. */
  withheld?: true;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeRecord(value: object): Uint8Array {
  // perf: splices the schema version into the JSON text instead of copying the object, and encodes
  // through Buffer, whose small allocations share a pool (TextEncoder allocates a buffer per call).
  const json = JSON.stringify(value);
  const text =
    json === '{}' ? `{"_v":${RECORD_SCHEMA_VERSION}}` : `{"_v":${RECORD_SCHEMA_VERSION},${json.slice(1)}`;
  return Buffer.from(text, 'utf8');
}

export function decodeRecord<T>(namespace: string, path: string, bytes: Uint8Array): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new CorruptRecordError(
      namespace,
      path,
      `not valid JSON (${(error as Error).message}); truncated or damaged?`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CorruptRecordError(namespace, path, 'not a JSON object');
  }
  const { _v, ...value } = parsed as { _v?: unknown };
  if (_v !== RECORD_SCHEMA_VERSION) {
    throw new CorruptRecordError(
      namespace,
      path,
      typeof _v === 'number' && _v > RECORD_SCHEMA_VERSION
        ? `written with record schema version ${_v}, newer than this Switchyard reads (${RECORD_SCHEMA_VERSION}); upgrade it`
        : `missing or unknown record schema version ${JSON.stringify(_v)}`,
    );
  }
  return value as T;
}

export const paths = {
  flag: (name: string) => `flag/${name}`,
  flags: 'flag/',
  state: (env: string, name: string) => `state/${env}/${name}`,
  history: (env: string, name: string, version: number) =>
    `history/${env}/${name}/${String(version).padStart(10, '0')}`,
  historyOf: (env: string, name: string) => `history/${env}/${name}/`,
  idempotency: (key: string) => `idem/${key}`,
  tag: (tag: string, name: string) => `idx/tag/${tag}/${name}`,
  tagged: (tag: string) => `idx/tag/${tag}/`,
  text: (token: string, name: string) => `idx/text/${token}/${name}`,
  enabled: (env: string, name: string) => `idx/on/${env}/${name}`,
  enabledIn: (env: string) => `idx/on/${env}/`,
  region: (env: string, region: string, name: string) => `idx/region/${env}/${region}/${name}`,
  regionIn: (env: string, region: string) => `idx/region/${env}/${region}/`,
  scheduled: (env: string, name: string) => `idx/scheduled/${env}/${name}`,
  scheduledIn: (env: string) => `idx/scheduled/${env}/`,
  segment: (name: string) => `segment/${name}`,
  segmentState: (env: string, name: string) => `segstate/${env}/${name}`,
  environment: (name: string) => `env/${name}`,
  environments: 'env/',
  token: (id: string) => `token/${id}`,
  tokens: 'token/',
} as const;

/** The namespace of global records: environments and API tokens. */
export const SYSTEM_NAMESPACE = 'switchyard/system';

/** The last path segment of a path (the name a record is about). */
export const lastSegment = (path: string) => path.slice(path.lastIndexOf('/') + 1);
