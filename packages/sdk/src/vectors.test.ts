/**
 * The spec's evaluation vectors (spec/vectors/evaluation), run remotely: each file's flags and segments are
 * created through a real server's API, then every case is evaluated by this SDK (data delivered over the
 * stream) and by the server's OFREP endpoint, and checked against the vector.
 *
 * What cannot be asked remotely is listed and left to the engine's own vector run (core/src/vectors.test.ts):
 * - flags whose value depends on the time (a schedule or windows): a server evaluates at its own clock;
 * - documents the write path refuses on purpose (a missing prerequisite, a cycle): they never reach a server;
 * - `version`: the store numbers versions itself;
 * - through OFREP, a requested type other than the flag's own (OFREP asks for no type).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compileFlag, type EvaluationFile, type FlagDocument } from '@switchyard/core';
import { createClient, type SwitchyardClient } from './index.js';
import { startServer, type TestServer } from './testing.js';

const vectors = join(import.meta.dirname, '..', '..', '..', 'spec', 'vectors', 'evaluation');

const timeDependent = (doc: FlagDocument, environment: string): boolean => {
  const state = doc.environments[environment];
  if (state === undefined) return false;
  try {
    return compileFlag({ key: doc.key, type: doc.type, variations: doc.variations, state }).timeDependent;
  } catch {
    return true;
  }
};

/** Creates the flags (prerequisites first) and segments; returns the keys the server refused. */
async function load(server: TestServer, file: EvaluationFile): Promise<Set<string>> {
  for (const segment of file.segments ?? []) await server.api('POST', '/api/v1/segments', segment);
  const refused = new Set<string>();
  const pending = new Map(file.flags.map((f) => [f.key, f]));
  // Creation checks that prerequisites exist, so a flag waits for those it names.
  while (pending.size > 0) {
    const ready = [...pending.values()].filter((f) =>
      Object.values(f.environments).every((state) =>
        (state?.prerequisites ?? []).every((p) => !pending.has(p.flag) || p.flag === f.key),
      ),
    );
    const round = ready.length > 0 ? ready : [...pending.values()]; // a cycle: try them, the server refuses
    for (const doc of round) {
      pending.delete(doc.key);
      try {
        await server.api('POST', '/api/v1/flags', doc);
      } catch {
        refused.add(doc.key);
      }
    }
  }
  return refused;
}

/** Result fields that must be absent when a case's `expect` does not name them (see `EvaluationCase`). */
const ABSENT_UNLESS_EXPECTED = ['ruleId', 'errorCode'] as const;

const files = readdirSync(vectors)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('the evaluation vectors, remotely: the SDK and OFREP', () => {
  const asked = { sdk: 0, ofrep: 0 };
  after(() => {
    // Most cases must have been asked remotely, or this test proves little.
    assert.ok(asked.sdk >= 300 && asked.ofrep >= 250, JSON.stringify(asked));
  });

  for (const name of files) {
    const file = JSON.parse(readFileSync(join(vectors, name), 'utf8')) as EvaluationFile;
    it(`${name}: every case that can be asked remotely`, async () => {
      // A server of its own per file: files reuse keys, and a key is the default salt of its rollouts.
      const server = await startServer();
      let client: SwitchyardClient | undefined;
      try {
        const refused = await load(server, file);
        const byKey = new Map(file.flags.map((f) => [f.key, f]));
        const sdkKey = await server.sdkKey(file.environment);
        const clientKey = (
          (await server.api('POST', '/api/v1/tokens', {
            name: 'vectors-client',
            role: 'sdk-client',
            environments: [file.environment],
          })) as { token: string }
        ).token;
        client = createClient({ url: server.url, sdkKey, events: false });
        assert.equal((await client.ready()).source, 'server');
        await check(server, client, clientKey, file, refused, byKey, name, asked);
      } finally {
        await client?.close();
        await server.stop();
      }
    });
  }
});

async function check(
  server: TestServer,
  client: SwitchyardClient,
  clientKey: string,
  file: EvaluationFile,
  refused: Set<string>,
  byKey: Map<string, FlagDocument>,
  name: string,
  asked: { sdk: number; ofrep: number },
): Promise<void> {
  // Flags whose cases cannot be asked remotely: refused, time-dependent, or needing a flag not there.
  const blocked = new Set(refused);
  for (const doc of file.flags) {
    const needsMissing = Object.values(doc.environments).some((s) =>
      (s?.prerequisites ?? []).some((p) => refused.has(p.flag) || byKey.get(p.flag) === undefined),
    );
    if (needsMissing || timeDependent(doc, file.environment)) blocked.add(doc.key);
  }
  for (const c of file.cases) {
    if (blocked.has(c.flag)) continue;
    const doc = byKey.get(c.flag);
    const expect = Object.entries(c.expect).filter(([field]) => field !== 'version');
    const where = `${name} › ${c.name} (${c.flag})`;

    const local = client.detail(c.flag, c.type, c.context, c.default) as unknown as Record<string, unknown>;
    asked.sdk++;
    for (const [field, value] of expect) assert.deepEqual(local[field], value, `SDK ${where}: ${field}`);
    // Where the vector says nothing of them, a rule id and an error code must be absent.
    for (const field of ABSENT_UNLESS_EXPECTED) {
      if (!(field in c.expect)) assert.equal(local[field], undefined, `SDK ${where}: ${field}`);
    }

    if (doc === undefined || doc.type !== c.type) continue;
    const response = await fetch(`${server.url}/ofrep/v1/evaluate/flags/${c.flag}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: c.context }),
    });
    const body = (await response.json()) as Record<string, unknown> & {
      metadata?: Record<string, unknown>;
    };
    asked.ofrep++;
    const remote: Record<string, unknown> = {
      value: 'errorCode' in body ? c.default : body.value,
      variant: body.variant,
      reason: 'errorCode' in body ? 'ERROR' : body.reason,
      ruleId: body.metadata?.ruleId,
      errorCode: body.errorCode,
    };
    for (const [field, value] of expect) {
      if (field === 'errorMessage') continue;
      assert.deepEqual(remote[field], value, `OFREP ${where}: ${field}`);
    }
    for (const field of ABSENT_UNLESS_EXPECTED) {
      if (!(field in c.expect)) assert.equal(remote[field], undefined, `OFREP ${where}: ${field}`);
    }
  }
}
