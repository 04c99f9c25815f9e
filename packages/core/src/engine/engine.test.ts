import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pauseState, resumeState, stateAt } from '../document/lifecycle.js';
import type { EnvironmentState, FlagRecord } from '../document/schema.js';
import { FlagEngine } from './engine.js';
import { encodeSnapshot, SnapshotFormatError } from './snapshot.js';

const variations = { on: true, off: false };

function record(key: string, state: Partial<EnvironmentState> = {}): FlagRecord {
  return {
    key,
    type: 'boolean',
    variations,
    state: { enabled: true, offVariation: 'off', default: 'on', version: 1, ...state },
  };
}

describe('FlagEngine', () => {
  it('indexes a snapshot without parsing records: a corrupt record fails alone, when evaluated', () => {
    const good = encodeSnapshot({ environment: 'production' }, [record('a/b/good')]).toString();
    const corrupt = Buffer.from(`${good}F a/b/bad\t{"type":"boolean","variations":{"on":tru\n`);
    const engine = FlagEngine.fromSnapshot(corrupt);
    assert.equal(engine.size, 2);
    assert.equal(engine.evaluate('a/b/good', 'boolean', {}, false).value, true);
    const bad = engine.evaluate('a/b/bad', 'boolean', {}, false);
    assert.equal(bad.errorCode, 'PARSE_ERROR');
    assert.equal(bad.value, false);
    assert.match(bad.errorMessage!, /flag "a\/b\/bad" could not be read/);
  });

  it('refuses bytes that are not a snapshot, or an unknown format version, with a clear error', () => {
    assert.throws(() => FlagEngine.fromSnapshot(Buffer.from('{"flags":[]}')), SnapshotFormatError);
    assert.throws(
      () => FlagEngine.fromSnapshot(Buffer.from('#switchyard-snapshot 2 {"environment":"p"}\n')),
      /format version this engine does not read/,
    );
    assert.throws(
      () => FlagEngine.fromSnapshot(Buffer.from('#switchyard-snapshot 1 {oops\n')),
      /header is not valid JSON/,
    );
  });

  it('replaces and deletes single flags without touching the others', () => {
    const engine = FlagEngine.fromSnapshot(
      encodeSnapshot({ environment: 'p' }, [record('a/b/x'), record('a/b/y')]),
    );
    assert.equal(engine.evaluate('a/b/x', 'boolean', {}, false).value, true);
    engine.setFlag(record('a/b/x', { enabled: false, version: 2 }));
    const off = engine.evaluate('a/b/x', 'boolean', {}, true);
    assert.deepEqual([off.value, off.reason, off.version], [false, 'DISABLED', 2]);
    assert.equal(engine.deleteFlag('a/b/y'), true);
    assert.equal(engine.evaluate('a/b/y', 'boolean', {}, true).errorCode, 'FLAG_NOT_FOUND');
  });

  it('keeps a snapshot key deleted, re-added or replaced, with size and keys to match', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `a/b/f${i}`);
    const engine = FlagEngine.fromSnapshot(
      encodeSnapshot(
        { environment: 'p' },
        keys.map((k) => record(k)),
      ),
    );
    assert.equal(engine.size, 1000);
    assert.ok(engine.hasFlag('a/b/f999') && !engine.hasFlag('a/b/f1000') && !engine.hasFlag('a/b/f'));
    assert.equal(engine.deleteFlag('a/b/f5'), true);
    assert.equal(engine.deleteFlag('a/b/f5'), false);
    assert.equal(engine.evaluate('a/b/f5', 'boolean', {}, true).errorCode, 'FLAG_NOT_FOUND');
    engine.setFlag(record('a/b/f5', { enabled: false }));
    engine.setFlag(record('a/b/new'));
    assert.equal(engine.evaluate('a/b/f5', 'boolean', {}, true).value, false);
    assert.equal(engine.size, 1001);
    const listed = [...engine.flagKeys()].sort();
    assert.deepEqual(listed, [...keys, 'a/b/new'].sort());
  });

  it('finds keys with characters beyond ASCII, and keeps the last line of a repeated key', () => {
    const first = encodeSnapshot({ environment: 'p' }, [record('a/b/é'), record('a/b/x')]).toString();
    const twice = Buffer.from(
      `${first}F a/b/x\t${JSON.stringify({ type: 'boolean', variations, state: { enabled: false, offVariation: 'off', default: 'on', version: 2 } })}\n`,
    );
    const engine = FlagEngine.fromSnapshot(twice);
    assert.equal(engine.size, 2);
    assert.equal(engine.evaluate('a/b/é', 'boolean', {}, false).value, true);
    assert.equal(engine.evaluate('a/b/x', 'boolean', {}, true).value, false);
  });

  it('reads the clock only for flags whose value depends on time', () => {
    let reads = 0;
    const clock = () => {
      reads++;
      return Date.parse('2026-06-01T00:00:00Z');
    };
    const windowed = record('a/b/windowed', {
      default: 'off',
      rules: [{ id: 'w', window: { from: '2026-01-01T00:00:00Z' }, serve: 'on' }],
    });
    const engine = new FlagEngine({ clock });
    engine.setFlag(record('a/b/plain'));
    engine.setFlag(windowed);
    engine.evaluate('a/b/plain', 'boolean', {}, false);
    assert.equal(reads, 0);
    assert.equal(engine.evaluate('a/b/windowed', 'boolean', {}, false).value, true);
    assert.equal(reads, 1);
    assert.equal(
      engine.evaluate('a/b/windowed', 'boolean', {}, true, Date.parse('2025-01-01T00:00:00Z')).value,
      false,
    );
    assert.equal(reads, 1);
  });

  it('returns frozen results that callers cannot corrupt', () => {
    const engine = new FlagEngine();
    engine.setFlag(record('a/b/x'));
    const result = engine.evaluate('a/b/x', 'boolean', {}, false);
    assert.ok(Object.isFrozen(result));
    assert.throws(() => {
      (result as { value: unknown }).value = false;
    });
  });

  it('never throws, whatever the context holds', () => {
    const engine = new FlagEngine();
    engine.setFlag(
      record('a/b/x', {
        targets: { on: ['vip'] },
        rules: [
          { id: 'n', when: [{ attribute: 'a.b', op: 'gt', values: [1] }], serve: 'on' },
          { id: 's', when: [{ attribute: 'v', op: 'semverGte', values: ['1.0.0'] }], serve: 'on' },
          { id: 'm', when: [{ attribute: 'e', op: 'matches', values: ['^x'] }], serve: 'on' },
        ],
        default: { rollout: { on: 50, off: 50 }, bucketBy: 'id' },
        regions: { eu: { default: 'off' } },
      }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('targetingKey', 'a', 'v', 'e', 'id', 'region'), fc.anything()),
        (context) => {
          const result = engine.evaluate('a/b/x', 'boolean', context, false);
          assert.ok(typeof result.value === 'boolean');
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('pause and resume', () => {
  const ramp: EnvironmentState = {
    enabled: true,
    offVariation: 'off',
    default: { rollout: { on: 1, off: 99 } },
    schedule: [
      { at: '2026-12-01T00:00:00.000Z', set: { default: { rollout: { on: 5, off: 95 } } } },
      { at: '2026-12-02T00:00:00.000Z', set: { default: { rollout: { on: 25, off: 75 } } } },
      { at: '2026-12-03T00:00:00.000Z', set: { default: 'on' } },
    ],
  };
  const exposure = (state: EnvironmentState, at: string) => {
    const engine = new FlagEngine();
    engine.setFlag({ key: 'a/b/ramp', type: 'boolean', variations, state });
    let on = 0;
    for (let i = 0; i < 20_000; i++) {
      if (engine.evaluate('a/b/ramp', 'boolean', { targetingKey: `u${i}` }, false, Date.parse(at)).value)
        on++;
    }
    return (on / 20_000) * 100;
  };
  const near = (actual: number, expected: number, what: string) =>
    assert.ok(
      Math.abs(actual - expected) < 1,
      `${what}: ${actual.toFixed(2)}% exposed, expected ${expected}%`,
    );

  it('holds a ramp while paused and continues it after resume, shifted by the pause', () => {
    const paused = pauseState(ramp, Date.parse('2026-12-01T12:00:00Z'));
    near(exposure(paused, '2026-12-05T00:00:00Z'), 5, 'paused after the 5% step: stays at 5%');
    const resumed = resumeState(paused, Date.parse('2026-12-04T12:00:00Z'));
    assert.equal(resumed.paused, undefined);
    assert.deepEqual(
      resumed.schedule!.map((s) => s.at),
      ['2026-12-01T00:00:00.000Z', '2026-12-05T00:00:00.000Z', '2026-12-06T00:00:00.000Z'],
    );
    near(exposure(resumed, '2026-12-04T13:00:00Z'), 5, 'right after resume: still 5%');
    near(exposure(resumed, '2026-12-05T01:00:00Z'), 25, 'a day later, as before the pause: 25%');
    near(exposure(resumed, '2026-12-06T01:00:00Z'), 100, 'after the last step');
  });
});

describe('stateAt', () => {
  const stepped: EnvironmentState = {
    enabled: false,
    offVariation: 'off',
    default: 'on',
    schedule: [{ at: '2026-01-02T00:00:00Z', set: { enabled: true } }],
  };
  const cases: [string, EnvironmentState][] = [
    ['running', stepped],
    ['paused before the step', { ...stepped, paused: true, pausedAt: '2026-01-01T00:00:00Z' }],
    ['paused without pausedAt', { ...stepped, paused: true }],
  ];
  for (const [name, state] of cases) {
    it(`agrees with the evaluator on which steps are in force (${name})`, () => {
      const engine = new FlagEngine();
      engine.setFlag(record('a/b/stepped', state));
      for (const at of ['2026-01-01T12:00:00Z', '2026-01-03T00:00:00Z'].map(Date.parse)) {
        const evaluated = engine.evaluate('a/b/stepped', 'boolean', {}, false, at).reason !== 'DISABLED';
        assert.equal(stateAt(state, at).enabled, evaluated);
      }
    });
  }
});

describe('rollout properties', () => {
  const rolloutFlag = (key: string, percent: number, salt?: string): FlagRecord =>
    record(key, { default: { rollout: { on: percent, off: 100 - percent }, ...(salt ? { salt } : {}) } });

  it('never removes an exposed user when the percentage rises (monotone ramps)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(fc.string({ minLength: 1 }), { minLength: 50, maxLength: 200 }),
        (a, b, users) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const engine = new FlagEngine();
          engine.setFlag(rolloutFlag('a/b/low', low / 1000, 'same-salt'));
          engine.setFlag(rolloutFlag('a/b/high', high / 1000, 'same-salt'));
          for (const u of users) {
            const before = engine.evaluate('a/b/low', 'boolean', { targetingKey: u }, false).value;
            const after = engine.evaluate('a/b/high', 'boolean', { targetingKey: u }, false).value;
            if (before) assert.equal(after, true, `user ${JSON.stringify(u)} left at ${high / 1000}%`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same flag, context and instant always give the same result', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 100 }), (user, percent) => {
        const one = new FlagEngine();
        const two = new FlagEngine();
        one.setFlag(rolloutFlag('a/b/x', percent));
        two.setFlag(rolloutFlag('a/b/x', percent));
        const context = { targetingKey: user };
        assert.deepEqual(
          one.evaluate('a/b/x', 'boolean', context, false),
          two.evaluate('a/b/x', 'boolean', context, false),
        );
      }),
    );
  });

  it('exposes 0.1/1/5/25/50/99% of 100,000 random users within half a point', () => {
    const users = fc.sample(fc.string({ minLength: 1, maxLength: 24 }), { numRuns: 100_000, seed: 7 });
    const engine = new FlagEngine();
    const levels = [0.1, 1, 5, 25, 50, 99];
    levels.forEach((p, i) => {
      engine.setFlag(rolloutFlag(`a/b/p${i}`, p));
    });
    levels.forEach((p, i) => {
      let on = 0;
      for (const u of users)
        if (engine.evaluate(`a/b/p${i}`, 'boolean', { targetingKey: u }, false).value) on++;
      const share = (on / users.length) * 100;
      assert.ok(Math.abs(share - p) <= 0.5, `${p}%: measured ${share.toFixed(3)}%`);
    });
  });

  it('keeps flags with different salts independent', () => {
    const engine = new FlagEngine();
    engine.setFlag(rolloutFlag('a/b/one', 50));
    engine.setFlag(rolloutFlag('a/b/two', 50));
    let both = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const context = { targetingKey: `user-${i}` };
      if (
        engine.evaluate('a/b/one', 'boolean', context, false).value &&
        engine.evaluate('a/b/two', 'boolean', context, false).value
      )
        both++;
    }
    assert.ok(Math.abs(both / n - 0.25) < 0.005, `both on for ${both} of ${n}`);
  });
});
