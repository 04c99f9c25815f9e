import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeSnapshot, type FlagRecord, readHeader } from '@switchyard/core';
import { positionsOfHeader } from '../feed/positions.js';
import { LocalData } from './local-data.js';

const flag = (key: string, serve: 'on' | 'off', version = 1): FlagRecord => ({
  key,
  type: 'boolean',
  variations: { on: true, off: false },
  state: { enabled: true, offVariation: 'off', default: serve, version } as FlagRecord['state'],
});

function snapshot(namespaces: Record<string, number>, flags: FlagRecord[], complete = true) {
  const bytes = encodeSnapshot(
    { environment: 'production', namespaces, time: new Date().toISOString() },
    flags,
  );
  return {
    bytes,
    ...readHeader(bytes),
    positions: namespaces,
    namespaces: Object.keys(namespaces),
    complete,
  };
}

const value = (data: LocalData, key: string) => data.engine.evaluate(key, 'boolean', {}, 'missing').value;

describe('LocalData', () => {
  it('replaces only the namespaces of a partial snapshot and names what changed', () => {
    const data = new LocalData();
    data.replace(
      snapshot({ 'a/x': 3, 'b/y': 5 }, [flag('a/x/one', 'on'), flag('a/x/two', 'on'), flag('b/y/one', 'on')]),
    );
    const changed = data.replace(snapshot({ 'a/x': 9 }, [flag('a/x/one', 'off', 2)], false));
    assert.deepEqual(changed, { flags: ['a/x/one', 'a/x/two'], segments: [] });
    assert.equal(value(data, 'a/x/one'), false);
    assert.equal(value(data, 'a/x/two'), 'missing');
    assert.equal(value(data, 'b/y/one'), true, 'another namespace is kept');
    assert.deepEqual(data.positions, { 'a/x': 9, 'b/y': 5 });
  });

  it('drops the namespaces a complete snapshot does not name, and keeps those it may not apply', () => {
    const data = new LocalData();
    data.replace(snapshot({ 'a/x': 3, 'b/y': 5 }, [flag('a/x/one', 'on'), flag('b/y/one', 'on')]));
    const behind = { ...snapshot({ 'a/x': 2, 'c/z': 1 }, [flag('a/x/one', 'off'), flag('c/z/one', 'on')]) };
    const changed = data.replace({ ...behind, namespaces: ['c/z'] });
    assert.deepEqual([...changed.flags].sort(), ['b/y/one', 'c/z/one']);
    assert.equal(value(data, 'a/x/one'), true, 'a namespace held at a later position is kept');
    assert.equal(value(data, 'b/y/one'), 'missing');
    assert.deepEqual(data.positions, { 'a/x': 3, 'c/z': 1 });
  });

  it('applies patches, reports only real changes, and encodes what it holds as a snapshot', () => {
    const data = new LocalData();
    data.replace(snapshot({ 'a/x': 1 }, [flag('a/x/one', 'on'), flag('a/x/two', 'on')]));
    const line = `F a/x/one\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: flag('a/x/one', 'off', 2).state })}`;
    const patch = {
      namespace: 'a/x',
      seq: 2,
      changes: [
        {
          op: 'put' as const,
          kind: 'flag' as const,
          key: 'a/x/one',
          json: line.slice(line.indexOf('\t') + 1),
          line,
        },
        { op: 'remove' as const, kind: 'flag' as const, key: 'a/x/two', line: '-F a/x/two' },
        { op: 'remove' as const, kind: 'flag' as const, key: 'a/x/never', line: '-F a/x/never' },
      ],
    };
    assert.deepEqual(data.applyPatch(patch), { flags: ['a/x/one', 'a/x/two'], segments: [] });
    assert.deepEqual(data.applyPatch({ ...patch, seq: 3 }), { flags: [], segments: [] }, 'nothing new');
    assert.equal(value(data, 'a/x/one'), false);

    const encoded = Buffer.concat(data.encode({ selection: null }));
    const { header, bodyStart } = readHeader(encoded);
    assert.deepEqual(positionsOfHeader(header), { 'a/x': 3 });
    const copy = new LocalData();
    copy.replace({
      bytes: encoded,
      header,
      bodyStart,
      positions: positionsOfHeader(header),
      namespaces: ['a/x'],
      complete: true,
    });
    assert.equal(value(copy, 'a/x/one'), false);
    assert.equal(value(copy, 'a/x/two'), 'missing');
  });

  it('loads the first whole snapshot as it came, and folds many patched lines into a new one', () => {
    const data = new LocalData();
    const first = data.replace(snapshot({ 'a/x': 1 }, [flag('a/x/one', 'on'), flag('a/x/two', 'on')]));
    assert.deepEqual(first, { flags: [], segments: [], all: true });
    const lineOf = (key: string, serve: 'on' | 'off', version: number) =>
      `F ${key}\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: flag(key, serve, version).state })}`;
    for (let i = 0; i < 12_000; i++) {
      const key = `a/x/f${i}`;
      const line = lineOf(key, i % 2 === 0 ? 'on' : 'off', 1);
      data.applyPatch({
        namespace: 'a/x',
        seq: 2 + i,
        changes: [{ op: 'put', kind: 'flag', key, json: line.slice(line.indexOf('\t') + 1), line }],
      });
    }
    data.applyPatch({
      namespace: 'a/x',
      seq: 20_000,
      changes: [{ op: 'remove', kind: 'flag', key: 'a/x/one', line: '-F a/x/one' }],
    });
    assert.ok(
      (data.engine.snapshotFlags?.size ?? 0) > 10_000,
      'the patched lines were folded into the snapshot',
    );
    assert.equal(data.engine.size, 12_001);
    assert.equal(value(data, 'a/x/f11998'), true);
    assert.equal(value(data, 'a/x/f11999'), false);
    assert.equal(value(data, 'a/x/one'), 'missing');
    const copy = new LocalData();
    const bytes = Buffer.concat(data.encode());
    const { header, bodyStart } = readHeader(bytes);
    copy.replace({
      bytes,
      header,
      bodyStart,
      positions: positionsOfHeader(header),
      namespaces: ['a/x'],
      complete: true,
    });
    assert.equal(copy.engine.size, 12_001);
    assert.deepEqual(copy.positions, { 'a/x': 20_000 });
  });

  it('has data from the first snapshot on, whole or partial', () => {
    const whole = new LocalData();
    assert.equal(whole.hasData, false);
    assert.throws(() =>
      whole.replace({ ...snapshot({ 'a/x': 1 }, []), bytes: Buffer.from('not a snapshot') }),
    );
    assert.equal(whole.hasData, false, 'bytes that are not a snapshot load nothing');
    whole.replace(snapshot({ 'a/x': 1 }, []));
    assert.equal(whole.hasData, true, 'even with no flags');
    const partial = new LocalData();
    partial.replace(snapshot({ 'a/x': 1, 'b/y': 1 }, [flag('a/x/one', 'on')], false));
    assert.equal(partial.hasData, true);
  });

  it('encodes lines of many bytes across its blocks as they are', () => {
    const data = new LocalData();
    // About 2.4 MB of lines with characters of two, three and four bytes, so lines straddle blocks.
    const flags = Array.from({ length: 4000 }, (_, i) => ({
      ...flag(`a/x/é✓😀${i}`, 'on'),
      variations: { on: `ü✓😀${i}`.repeat(50), off: false },
    })) as FlagRecord[];
    const first = snapshot({ 'a/x': 1 }, flags);
    data.replace(first);
    const line = `F a/x/new\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: flag('a/x/new', 'on').state })}`;
    data.applyPatch({
      namespace: 'a/x',
      seq: 2,
      changes: [{ op: 'put', kind: 'flag', key: 'a/x/new', json: line.slice(line.indexOf('\t') + 1), line }],
    });
    const [, body] = data.encode();
    // The lines come in the index's order: compared as sets, and the bytes counted.
    const expected = first.bytes.subarray(readHeader(first.bytes).bodyStart).toString('utf8').split('\n');
    expected.pop();
    expected.push(line);
    const got = body!.toString('utf8').split('\n');
    assert.equal(got.pop(), '', 'every line ends with a newline');
    assert.equal(body!.length, Buffer.byteLength(expected.join('\n')) + 1);
    assert.ok(got.sort().join('\n') === expected.sort().join('\n'), 'the same lines, byte for byte');
  });

  it('changes nothing when a patch holds a record that is not JSON', () => {
    const data = new LocalData();
    data.replace(snapshot({ 'a/x': 1 }, [flag('a/x/one', 'on')]));
    assert.throws(() =>
      data.applyPatch({
        namespace: 'a/x',
        seq: 2,
        changes: [
          { op: 'remove', kind: 'flag', key: 'a/x/one', line: '-F a/x/one' },
          { op: 'put', kind: 'flag', key: 'a/x/bad', json: '{', line: 'F a/x/bad\t{' },
        ],
      }),
    );
    assert.equal(value(data, 'a/x/one'), true);
    assert.deepEqual(data.positions, { 'a/x': 1 });
  });
});
