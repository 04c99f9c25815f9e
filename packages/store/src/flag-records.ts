/**
 * How a flag becomes records: its identity, a state per environment, and its index records. Pure: the
 * store's write paths (create, bulk create) share it.
 */
import { type EnvironmentState, type FlagDocument, splitKey } from '@switchyard/core';
import type { RecordWrite, StoredRecord } from './contract.js';
import { indexRecords } from './indexes.js';
import { decodeRecord, encodeRecord, type FlagMeta, paths, type StateRecord } from './records.js';
import { type Keyring, sealMeta } from './sensitive.js';

// perf: a bulk load writes thousands of records stamped with the same instant; its text is made once.
let lastMs = Number.NaN;
let lastIso = '';

export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

// perf: index records hold "", "0" or "1"; their bytes are shared instead of encoded per record.
const INDEX_VALUES = new Map(['', '0', '1'].map((v) => [v, new TextEncoder().encode(v)]));

export function indexValue(value: string): Uint8Array {
  return INDEX_VALUES.get(value) ?? new TextEncoder().encode(value);
}

/** The state a flag starts with in an environment its document does not mention: off. */
function initialState(variations: FlagDocument['variations']): EnvironmentState {
  const names = Object.keys(variations);
  const off = names.find((n) => variations[n] === false) ?? names[names.length - 1]!;
  return { enabled: false, offVariation: off, default: off };
}

/**
 * A flag's state in an environment where none is stored: its initial state, version 1, as of its
 * creation. A flag is created with states only for the environments its document names; the others (and
 * environments added later) hold this until their first change stores one. It is off, so it has no
 * index records.
 */
export function implicitState(meta: FlagMeta, environment: string): StateRecord {
  return {
    key: meta.key,
    environment,
    version: 1,
    state: { ...initialState(meta.variations), version: 1 },
    updatedAt: meta.createdAt,
    updatedBy: meta.createdBy,
  };
}

/** A flag's state record in an environment of the store: as stored, else its implicit initial state. */
export function stateOf(
  namespace: string,
  meta: FlagMeta,
  environment: string,
  stored: StoredRecord | undefined,
): StateRecord {
  return stored === undefined
    ? implicitState(meta, environment)
    : decodeRecord<StateRecord>(namespace, stored.path, stored.value);
}

export function withoutVersion(state: EnvironmentState): EnvironmentState {
  if (state.version === undefined) return state;
  const { version: _version, ...rest } = state;
  return rest;
}

/**
 * The records that make a new flag: identity (first), a state for each environment its document names (in
 * the document's order), indexes. The other environments hold the implicit initial state.
 */
export function creationRecords(
  doc: FlagDocument,
  now: number,
  actor: string,
  keys: Keyring | undefined,
): RecordWrite[] {
  const { name } = splitKey(doc.key);
  const { environments: _e, schemaVersion: _s, kind: _k, ...identity } = doc;
  const at = iso(now);
  const meta: FlagMeta = { ...identity, version: 1, createdAt: at, createdBy: actor, updatedAt: at };
  const puts: RecordWrite[] = [
    { path: paths.flag(name), version: 1, value: encodeRecord(sealMeta(meta, keys)) },
  ];
  const states = new Map<string, EnvironmentState>();
  for (const [env, named] of Object.entries(doc.environments)) {
    const state = withoutVersion(named);
    states.set(env, state);
    const record: StateRecord = {
      key: doc.key,
      environment: env,
      version: 1,
      state: { ...state, version: 1 },
      updatedAt: at,
      updatedBy: actor,
    };
    puts.push({ path: paths.state(env, name), version: 1, value: encodeRecord(record) });
  }
  for (const [path, value] of indexRecords({
    name,
    tags: meta.tags,
    description: meta.description,
    states,
  })) {
    puts.push({ path, version: 0, value: indexValue(value) });
  }
  return puts;
}
