/**
 * Segments in the store: a reusable set of contexts per environment, versioned per environment like a
 * flag's state, every change in the ledger of the segment's namespace.
 *
 * Deleting a segment that flags still reference is allowed; those conditions then match nobody (the
 * engine treats an unknown segment as empty). References can live in any namespace, so the store cannot
 * refuse the delete atomically.
 */
import { type SegmentDocument, type SegmentState, splitKey, validateSegment } from '@switchyard/core';
import type { RecordWrite, StoreAdapter } from './contract.js';
import { NotFoundError, validOrThrow } from './errors.js';
import { mergePatch } from './merge-patch.js';
import { decodeRecord, encodeRecord, paths, type SegmentMeta, type SegmentStateRecord } from './records.js';
import type { ChangeContext, Writer } from './writer.js';

const iso = (ms: number) => new Date(ms).toISOString();

export interface SegmentView {
  meta: SegmentMeta;
  states: Record<string, SegmentStateRecord>;
}

export class Segments {
  constructor(
    private readonly adapter: StoreAdapter,
    private readonly writer: Writer,
    private readonly environments: () => Promise<string[]>,
  ) {}

  async get(key: string): Promise<SegmentView | undefined> {
    const { namespace, name } = splitKey(key);
    const meta = await this.adapter.get(namespace, paths.segment(name));
    if (meta === undefined) return undefined;
    const envs = await this.environments();
    const records = await this.adapter.getMany(
      namespace,
      envs.map((env) => paths.segmentState(env, name)),
    );
    const states: Record<string, SegmentStateRecord> = {};
    records.forEach((r, i) => {
      if (r !== undefined) states[envs[i]!] = decodeRecord<SegmentStateRecord>(namespace, r.path, r.value);
    });
    return { meta: decodeRecord<SegmentMeta>(namespace, meta.path, meta.value), states };
  }

  /** Creates a segment with a state (empty unless the document gives one) in every environment. */
  async create(document: unknown, context: ChangeContext): Promise<SegmentView> {
    const doc: SegmentDocument = validOrThrow(validateSegment(document));
    const { namespace, name } = splitKey(doc.key);
    const envs = await this.environments();
    const { environments: _e, schemaVersion: _s, ...identity } = doc;
    return this.writer.commit(namespace, context, document, async (now) => {
      const meta: SegmentMeta = { ...identity, version: 1, createdAt: iso(now), createdBy: context.actor };
      const view: SegmentView = { meta, states: {} };
      const puts: RecordWrite[] = [{ path: paths.segment(name), version: 1, value: encodeRecord(meta) }];
      for (const env of envs) {
        const record: SegmentStateRecord = {
          key: doc.key,
          environment: env,
          version: 1,
          state: { ...(doc.environments[env] ?? {}), version: 1 },
          updatedAt: iso(now),
          updatedBy: context.actor,
        };
        view.states[env] = record;
        puts.push({ path: paths.segmentState(env, name), version: 1, value: encodeRecord(record) });
      }
      return {
        preconditions: [{ path: paths.segment(name), version: 0 }],
        puts,
        deletes: [],
        event: { action: 'segment.create', segment: doc.key, toVersion: 1, patch: doc },
        response: view,
        conflict: () => `segment "${doc.key}" already exists`,
      };
    });
  }

  /** Replaces a segment's state in one environment, only at `expectedVersion`. */
  async updateState(
    key: string,
    environment: string,
    expectedVersion: number,
    state: SegmentState,
    context: ChangeContext,
  ): Promise<SegmentStateRecord> {
    const { namespace, name } = splitKey(key);
    const path = paths.segmentState(environment, name);
    return this.writer.commit(
      namespace,
      context,
      { key, environment, expectedVersion, state },
      async (now) => {
        const current = await this.adapter.get(namespace, path);
        if (current === undefined)
          throw new NotFoundError(`segment "${key}" has no state in "${environment}"`);
        const before = decodeRecord<SegmentStateRecord>(namespace, path, current.value);
        const { version: _v, ...next } = state;
        validOrThrow(validateSegment({ kind: 'segment', key, environments: { [environment]: next } }));
        const version = expectedVersion + 1;
        const record: SegmentStateRecord = {
          key,
          environment,
          version,
          state: { ...next, version },
          updatedAt: iso(now),
          updatedBy: context.actor,
        };
        const { version: _b, ...old } = before.state;
        return {
          preconditions: [{ path, version: expectedVersion }],
          puts: [{ path, version, value: encodeRecord(record) }],
          deletes: [],
          event: {
            action: 'segment.update',
            segment: key,
            environment,
            fromVersion: expectedVersion,
            toVersion: version,
            patch: mergePatch(old, next),
          },
          response: record,
          conflict: (_p, wanted, actual) =>
            `segment "${key}" in "${environment}" is at version ${actual}, not ${wanted}`,
        };
      },
    );
  }

  async delete(key: string, context: ChangeContext): Promise<void> {
    const { namespace, name } = splitKey(key);
    await this.writer.commit(namespace, context, { deleteSegment: key }, async () => {
      const meta = await this.adapter.get(namespace, paths.segment(name));
      if (meta === undefined) throw new NotFoundError(`segment "${key}" does not exist`);
      const envs = await this.environments();
      return {
        preconditions: [{ path: paths.segment(name), version: meta.version }],
        puts: [],
        deletes: [paths.segment(name), ...envs.map((env) => paths.segmentState(env, name))],
        event: { action: 'segment.delete', segment: key, fromVersion: meta.version },
        response: undefined,
        conflict: () => `segment "${key}" changed meanwhile; try again`,
      };
    });
  }
}
