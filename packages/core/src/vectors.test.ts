/**
 * Runs the language-neutral vectors of spec/vectors/ through this engine: every bucketing vector, and
 * every evaluation case, after validating the flags and segments of its file as one flag set.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bucket } from './bucketing/bucket.js';
import { murmur3 } from './bucketing/murmur3.js';
import { FlagEngine } from './engine/engine.js';
import { encodeSnapshot } from './engine/snapshot.js';
import { formatIssues } from './validation/issues.js';
import { structuralIssues } from './validation/structural.js';
import type { EvaluationFile } from './vectors-format.js';

const vectors = join(import.meta.dirname, '..', '..', '..', 'spec', 'vectors');

interface BucketVector {
  name: string;
  salt: string;
  value: string;
  hash: number;
  bucket: number;
}

describe('bucketing vectors', () => {
  const file = JSON.parse(readFileSync(join(vectors, 'bucketing.json'), 'utf8')) as {
    vectors: BucketVector[];
  };
  it('has at least 30 vectors', () => assert.ok(file.vectors.length >= 30));
  for (const v of file.vectors) {
    it(v.name, () => {
      assert.equal(murmur3(Buffer.from(`${v.salt}:${v.value}`, 'utf8')), v.hash);
      assert.equal(bucket(v.salt, v.value), v.bucket);
    });
  }
});

/** Builds an engine the way an SDK receives data: a snapshot of one environment. */
function engineFor(file: EvaluationFile): FlagEngine {
  const env = file.environment;
  const flags = file.flags
    .filter((f) => f.environments[env] !== undefined)
    .map((f) => ({ key: f.key, type: f.type, variations: f.variations, state: f.environments[env]! }));
  const segments = (file.segments ?? [])
    .filter((s) => s.environments[env] !== undefined)
    .map((s) => ({ key: s.key, state: s.environments[env]! }));
  return FlagEngine.fromSnapshot(encodeSnapshot({ environment: env }, flags, segments));
}

const evaluationFiles = readdirSync(join(vectors, 'evaluation'))
  .filter((f) => f.endsWith('.json'))
  .sort();

let total = 0;
for (const name of evaluationFiles) {
  const file = JSON.parse(readFileSync(join(vectors, 'evaluation', name), 'utf8')) as EvaluationFile;
  total += file.cases.length;
  describe(`evaluation vectors: ${name}`, () => {
    // Documents are schema-valid; some break write-time rules on purpose (a missing prerequisite, a
    // cycle, steps out of order), because an engine must cope with whatever data reaches it.
    it('holds documents that are valid against the JSON Schema', () => {
      const issues = [
        ...file.flags.flatMap((f) => structuralIssues('flag', f).map((i) => ({ document: f.key, ...i }))),
        ...(file.segments ?? []).flatMap((s) =>
          structuralIssues('segment', s).map((i) => ({ document: s.key, ...i })),
        ),
      ];
      assert.deepEqual(issues, [], formatIssues(issues));
    });
    const engine = engineFor(file);
    for (const c of file.cases) {
      it(c.name, () => {
        const nowText = c.now ?? file.now;
        const now = nowText === undefined ? Date.parse('2026-01-01T00:00:00Z') : Date.parse(nowText);
        const result = engine.evaluate(c.flag, c.type, c.context, c.default, now);
        for (const [field, expected] of Object.entries(c.expect)) {
          assert.deepEqual(
            (result as unknown as Record<string, unknown>)[field],
            expected,
            `field "${field}"`,
          );
        }
        // Where the vector says nothing of them, a rule id and an error code must be absent.
        if (!('errorCode' in c.expect)) assert.equal(result.errorCode, undefined, result.errorMessage);
        if (!('ruleId' in c.expect)) assert.equal(result.ruleId, undefined, 'ruleId');
      });
    }
  });
}

describe('evaluation vectors', () => {
  it('number at least 200 cases', () => assert.ok(total >= 200, `${total} cases`));
});
