import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyText } from '../document/parse.js';
import type { FlagDocument } from '../document/schema.js';
import { formatIssues } from './issues.js';
import { validateFlag, validateFlagSet, validateSegment } from './validate.js';

function flag(
  overrides: Record<string, unknown> = {},
  production: Record<string, unknown> = {},
): FlagDocument {
  return {
    key: 'checkout/payments/new-card-form',
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { production: { enabled: true, offVariation: 'off', default: 'off', ...production } },
    ...overrides,
  } as FlagDocument;
}

function messages(document: unknown): string[] {
  const result = validateFlag(document);
  return result.ok ? [] : formatIssues(result.issues).split('\n');
}

describe('validateFlag', () => {
  it('accepts a well-formed flag', () => {
    assert.deepEqual(messages(flag()), []);
  });

  it('names the path and suggests the operator meant', () => {
    const doc = flag(
      {},
      {
        rules: [
          { id: 'a', serve: 'on' },
          { id: 'b', when: [{ attribute: 'country', op: 'inn', values: ['DE'] }], serve: 'on' },
        ],
      },
    );
    assert.deepEqual(messages(doc), [
      'environments.production.rules[1].when[0].op: unknown operator "inn" (did you mean "in"?)',
    ]);
  });

  it('reports unknown fields with the closest known one', () => {
    const doc = flag({}, { rules: [{ id: 'a', wen: [], serve: 'on' }] });
    assert.deepEqual(messages(doc), [
      'environments.production.rules[0].wen: unknown field "wen" (did you mean "when"?)',
    ]);
  });

  it('reports a missing required field', () => {
    const { offVariation: _, ...state } = flag().environments.production!;
    assert.deepEqual(messages(flag({ environments: { production: state } })), [
      'environments.production.offVariation: required field "offVariation" is missing',
    ]);
  });

  it('rejects rollout weights that do not sum to 100% or have more than three decimals', () => {
    assert.deepEqual(messages(flag({}, { default: { rollout: { on: 20, off: 70 } } })), [
      'environments.production.default.rollout: weights add up to 90%, not 100%',
    ]);
    assert.deepEqual(messages(flag({}, { default: { rollout: { on: 33.3333, off: 66.6667 } } })), [
      'environments.production.default.rollout.on: 33.3333% has more than three decimals',
      'environments.production.default.rollout.off: 66.6667% has more than three decimals',
      'environments.production.default.rollout: weights add up to 0%, not 100%',
    ]);
    assert.deepEqual(messages(flag({}, { default: { rollout: { on: 33.333, off: 66.667 } } })), []);
  });

  it('rejects references to variations the flag does not have', () => {
    assert.deepEqual(messages(flag({}, { offVariation: 'of', targets: { onn: ['u'] } })), [
      'environments.production.offVariation: unknown variation "of" (did you mean "off"?)',
      'environments.production.targets.onn: unknown variation "onn" (did you mean "on"?)',
    ]);
  });

  it('rejects variation values of another type than the flag', () => {
    assert.deepEqual(messages(flag({ variations: { on: 'yes', off: false } })), [
      "variations.on: a boolean flag's variation must be a boolean; this is a string",
    ]);
    assert.deepEqual(
      messages(flag({ type: 'number', variations: { on: 1, off: Number.NaN } }, { default: 'on' })),
      ["variations.off: a number flag's variation must be a number; this is a number"],
    );
  });

  it('accepts regexes the linear-time engine runs, and refuses backreferences, lookaround, bad syntax, long and large ones', () => {
    const rule = (pattern: string) =>
      flag(
        {},
        { rules: [{ id: 'r', when: [{ attribute: 'a', op: 'matches', values: [pattern] }], serve: 'on' }] },
      );
    // Patterns that backtrack exponentially elsewhere are safe on RE2, so they are accepted.
    for (const pattern of ['(a+)+$', '(a|a)*$', '(a|aa)*$', '^(a|ab)*c$', '(\\w|\\d)*!$']) {
      assert.deepEqual(messages(rule(pattern)), [], pattern);
    }
    assert.match(
      messages(rule('(a)\\1'))[0]!,
      /when\[0\]\.values\[0\]: regular expression uses a backreference, which the linear-time regex engine \(RE2\) does not run/,
    );
    assert.match(messages(rule('(?<n>a)\\k<n>'))[0]!, /uses a backreference/);
    assert.deepEqual(messages(rule('\\\\1')), [], 'an escaped backslash before a digit is no backreference');
    assert.match(messages(rule('a(?=b)'))[0]!, /syntax the linear-time regex engine \(RE2\) does not run/);
    assert.match(messages(rule('(?<=a)b'))[0]!, /syntax the linear-time regex engine \(RE2\) does not run/);
    assert.match(
      messages(rule('(.*a){1000}'))[0]!,
      /regular expression is too large: it compiles to \d+ instructions; the limit is 1000/,
    );
    assert.match(messages(rule('(unclosed'))[0]!, /does not compile/);
    assert.match(messages(rule('a'.repeat(600)))[0]!, /600 characters long; the limit is 512/);
    assert.deepEqual(messages(rule('^[a-z]+@example\\.com$')), []);
  });

  it('checks values against their operator', () => {
    const rule = (op: string, values: unknown[]) =>
      flag({}, { rules: [{ id: 'r', when: [{ attribute: 'a', op, values }], serve: 'on' }] });
    assert.match(messages(rule('gt', ['5']))[0]!, /"gt" compares numbers; "5" is a string/);
    assert.match(messages(rule('semverGte', ['2.x']))[0]!, /"2.x" is not a semantic version/);
    assert.match(messages(rule('after', ['yesterday']))[0]!, /neither an RFC 3339 date-time/);
    assert.match(messages(rule('startsWith', [1]))[0]!, /"startsWith" compares strings; 1 is a number/);
    assert.deepEqual(messages(rule('after', ['2026-01-01T00:00:00+01:00', 1767222000000])), []);
  });

  it('requires attribute and values where the operator reads them, and refuses them where it does not', () => {
    const rule = (condition: Record<string, unknown>) =>
      flag({}, { rules: [{ id: 'r', when: [condition], serve: 'on' }] });
    assert.match(
      messages(rule({ op: 'eq', values: ['x'] }))[0]!,
      /required field "attribute" is missing for operator "eq"/,
    );
    assert.match(messages(rule({ attribute: 'a', op: 'eq' }))[0]!, /required field "values" is missing/);
    assert.match(
      messages(rule({ attribute: 'a', op: 'exists', values: [] }))[0]!,
      /"exists" takes no values/,
    );
    assert.match(
      messages(rule({ attribute: 'a', op: 'inSegment', values: ['a/b/c'] }))[0]!,
      /reads no attribute/,
    );
  });

  it('rejects windows that end before they start, and duplicate rule ids', () => {
    const doc = flag(
      {},
      {
        rules: [
          { id: 'r', window: { from: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' }, serve: 'on' },
          { id: 'r', serve: 'on' },
        ],
      },
    );
    assert.deepEqual(messages(doc), [
      'environments.production.rules[0].window: the window ends (2026-01-01T00:00:00Z) before or when it starts (2026-02-01T00:00:00Z)',
      'environments.production.rules[1].id: rule id "r" is already used by rules[0]',
    ]);
  });

  it('enforces naming rules for keys, variations and environments', () => {
    assert.match(
      messages(flag({ key: 'Checkout/x' }))[0]!,
      /^key: "Checkout\/x" is not a key "namespace\/name"/,
    );
    assert.match(messages(flag({ key: 'checkout/flag' }))[0]!, /^key: /); // a namespace needs two segments
    assert.match(
      messages(flag({ variations: { '1': true, off: false } }))[0]!,
      /^variations\["1"\]: "1" is not a valid variation name/,
    );
    assert.match(
      messages(flag({ environments: { Prod: flag().environments.production } }))[0]!,
      /"Prod" is not a valid environment name/,
    );
  });

  it('says which schema version it reads', () => {
    assert.deepEqual(messages(flag({ schemaVersion: 2 })), [
      'schemaVersion: unsupported schema version 2: this Switchyard reads version 1',
    ]);
  });

  it('requires steps in time order and pausedAt only when paused', () => {
    const steps = [
      { at: '2026-02-01T00:00:00Z', set: { default: 'on' } },
      { at: '2026-01-01T00:00:00Z', set: { default: 'off' } },
    ];
    assert.deepEqual(messages(flag({}, { schedule: steps, pausedAt: '2026-01-01T00:00:00Z' })), [
      'environments.production.pausedAt: "pausedAt" is set but the state is not paused',
      'environments.production.schedule[1].at: steps must be in time order, each later than the one before',
    ]);
  });
});

describe('validateFlagSet', () => {
  const withPrerequisite = (key: string, on: string) =>
    flag({ key }, { prerequisites: [{ flag: on, variation: 'on' }] });

  it('rejects prerequisite cycles across the set, naming the cycle', () => {
    const result = validateFlagSet([
      withPrerequisite('a/b/one', 'a/b/two'),
      withPrerequisite('a/b/two', 'a/b/one'),
    ]);
    assert.equal(result.ok, false);
    assert.match(
      formatIssues(result.ok ? [] : result.issues),
      /a\/b\/one environments.production.prerequisites: prerequisites form a cycle: a\/b\/one → a\/b\/two → a\/b\/one/,
    );
  });

  it('rejects missing prerequisite flags, unknown prerequisite variations and unknown segments', () => {
    const segmentRule = { id: 's', when: [{ op: 'inSegment', values: ['a/b/beta'] }], serve: 'on' };
    const result = validateFlagSet([
      withPrerequisite('a/b/one', 'a/b/missing'),
      flag(
        { key: 'a/b/two' },
        { prerequisites: [{ flag: 'a/b/three', variation: 'onn' }], rules: [segmentRule] },
      ),
      flag({ key: 'a/b/three' }),
    ]);
    assert.deepEqual(result.ok ? [] : formatIssues(result.issues).split('\n'), [
      'a/b/one environments.production.prerequisites[0].flag: prerequisite flag "a/b/missing" does not exist',
      'a/b/two environments.production.prerequisites[0].variation: flag "a/b/three" has no variation "onn" (did you mean "on"?)',
      'a/b/two environments.production.rules[0].when[0].values[0]: segment "a/b/beta" does not exist',
    ]);
  });

  it('rejects prerequisite chains deeper than ten', () => {
    const chain = Array.from({ length: 12 }, (_, i) =>
      i < 11 ? withPrerequisite(`a/b/f${i}`, `a/b/f${i + 1}`) : flag({ key: `a/b/f${i}` }),
    );
    const result = validateFlagSet(chain);
    assert.match(
      formatIssues(result.ok ? [] : result.issues),
      /a\/b\/f0 environments.production.prerequisites: prerequisites chain 11 flags deep; the limit is 10/,
    );
  });

  it('rejects two documents with one key and accepts a consistent set with segments', () => {
    const duplicate = validateFlagSet([flag(), flag()]);
    assert.match(formatIssues(duplicate.ok ? [] : duplicate.issues), /another flag has this key/);
    const segment = { kind: 'segment', key: 'a/b/beta', environments: { production: { included: ['u1'] } } };
    const rule = { id: 's', when: [{ op: 'inSegment', values: ['a/b/beta'] }], serve: 'on' };
    const ok = validateFlagSet([flag({ key: 'a/b/one' }, { rules: [rule] }), segment]);
    assert.equal(ok.ok, true, ok.ok ? '' : formatIssues(ok.issues));
  });
});

describe('validateSegment', () => {
  it('refuses segment rules that reference segments', () => {
    const result = validateSegment({
      kind: 'segment',
      key: 'a/b/beta',
      environments: {
        production: { rules: [{ id: 'r', when: [{ op: 'inSegment', values: ['a/b/other'] }] }] },
      },
    });
    assert.deepEqual(result.ok ? [] : formatIssues(result.issues).split('\n'), [
      `environments.production.rules[0].when[0].op: "inSegment" cannot be used inside a segment's rules`,
    ]);
  });
});

describe('parsePolicyText', () => {
  it('reads several YAML documents, and JSON', () => {
    const yaml = parsePolicyText('key: a/b/c\n---\nkey: a/b/d\n');
    assert.deepEqual(yaml.ok && yaml.documents, [{ key: 'a/b/c' }, { key: 'a/b/d' }]);
    const json = parsePolicyText('[{"key":"a/b/c"},{"key":"a/b/d"}]');
    assert.deepEqual(json.ok && json.documents, [{ key: 'a/b/c' }, { key: 'a/b/d' }]);
  });

  it('keeps YAML 1.2 semantics: on/off and dates stay strings', () => {
    const parsed = parsePolicyText('variations: { on: true, off: false }\nat: 2026-12-01T00:00:00Z\n');
    assert.deepEqual(parsed.ok && parsed.documents, [
      { variations: { on: true, off: false }, at: '2026-12-01T00:00:00Z' },
    ]);
  });

  it('says where a syntax error is, and rejects duplicate keys', () => {
    const broken = parsePolicyText('key: a/b/c\nvariations: [\n', 'flags.yaml');
    assert.equal(broken.ok, false);
    assert.match(broken.ok ? '' : broken.issues[0]!.message, /^flags\.yaml:\d+:\d+: /);
    const duplicate = parsePolicyText('key: a\nkey: b\n');
    assert.match(duplicate.ok ? '' : duplicate.issues[0]!.message, /1:1|2:1|unique|duplicate/i);
  });
});
