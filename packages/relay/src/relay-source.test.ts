/**
 * The relay's copy never goes back: duplicated, late or out-of-order patches and older snapshots from an
 * upstream are ignored, on a real LMDB directory, and what it holds survives a reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { headerLine } from '@switchyard/core';
import { type PatchEvent, parseRecordLine, type SnapshotEvent } from '@switchyard/sdk';
import type { SourcePatch } from '@switchyard/server';
import { RelaySource } from './relay-source.js';
import { RelayStore } from './relay-store.js';

const line = (key: string, enabled: boolean, version: number) =>
  `F ${key}\t${JSON.stringify({ type: 'boolean', variations: { on: true, off: false }, state: { enabled, offVariation: 'off', default: 'on', version } })}`;

function patch(namespace: string, seq: number, lines: string[]): PatchEvent {
  return {
    namespace,
    seq,
    time: new Date(1000 * seq).toISOString(),
    committedAt: 1000 * seq,
    changes: lines.map((l) => parseRecordLine(l)!),
    body: '',
    receivedAt: Date.now(),
  };
}

function snapshot(positions: Record<string, number>, lines: string[], complete = false): SnapshotEvent {
  const header = { environment: 'production', namespaces: positions, time: new Date().toISOString() };
  const first = `${headerLine(header)}\n`;
  const bytes = Buffer.from(`${first}${lines.join('\n')}\n`);
  const bodyStart = Buffer.byteLength(first);
  return {
    bytes,
    header,
    bodyStart,
    positions,
    namespaces: Object.keys(positions),
    complete,
    source: 'stream',
  };
}

async function collect(source: RelaySource, namespace: string): Promise<string[]> {
  const out: string[] = [];
  for await (const page of source.lines(namespace, 'production')) out.push(...page);
  return out;
}

describe('the relay’s copy', () => {
  it('ignores duplicated, late and out-of-order patches and older snapshots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-source-'));
    try {
      const store = await RelayStore.open(dir, 'sy_test-key');
      const source = new RelaySource(store, 'production');
      const applied: SourcePatch[] = [];
      source.start({ patch: (p) => applied.push(p), reload: () => {}, namespace: () => {} });
      source.snapshot(snapshot({ 'a/b': 5 }, [line('a/b/x', true, 1)]));
      source.patch(patch('a/b', 7, [line('a/b/x', false, 2)]));
      source.patch(patch('a/b', 7, [line('a/b/x', false, 2)])); // duplicate
      source.patch(patch('a/b', 6, [line('a/b/x', true, 1)])); // late
      source.patch(patch('a/b', 3, ['-F a/b/x'])); // much older
      source.snapshot(snapshot({ 'a/b': 4 }, [line('a/b/x', true, 1)])); // an older snapshot
      assert.deepEqual(
        applied.map((p) => p.seq),
        [7],
      );
      assert.deepEqual(await collect(source, 'a/b'), [line('a/b/x', false, 2)]);
      assert.equal(await source.head('a/b'), 7);
      assert.deepEqual(await source.changedSince('a/b', 'production', 5, 7), new Set(['F a/b/x']));
      assert.equal(await source.changedSince('a/b', 'production', 2, 7), undefined);
      await store.close();

      const reopened = await RelayStore.open(dir, 'sy_test-key');
      const again = new RelaySource(reopened, 'production');
      assert.equal(await again.head('a/b'), 7);
      assert.deepEqual(await collect(again, 'a/b'), [line('a/b/x', false, 2)]);
      assert.deepEqual(await again.changedSince('a/b', 'production', 7, 7), new Set());
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes patched-away lines, replaces a namespace’s lines, and drops what a complete snapshot leaves out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-source-'));
    try {
      const store = await RelayStore.open(dir, 'sy_test-key');
      const source = new RelaySource(store, 'production');
      const reloaded: string[] = [];
      source.start({ patch: () => {}, reload: (ns) => reloaded.push(ns), namespace: () => {} });
      source.snapshot(
        snapshot({ 'a/b': 1, 'a/bc': 1 }, [
          line('a/b/x', true, 1),
          line('a/b/y', true, 1),
          line('a/bc/z', true, 1),
        ]),
      );
      assert.equal(store.size, 2);
      source.patch(patch('a/b', 2, ['-F a/b/x', line('a/b/w', true, 1)]));
      assert.deepEqual(await collect(source, 'a/b'), [line('a/b/w', true, 1), line('a/b/y', true, 1)]);
      assert.deepEqual(await source.changedSince('a/b', 'production', 1, 2), new Set(['F a/b/x', 'F a/b/w']));
      source.snapshot(snapshot({ 'a/b': 3 }, [line('a/b/v', true, 1)]));
      assert.deepEqual(await collect(source, 'a/b'), [line('a/b/v', true, 1)]);
      assert.deepEqual(
        await collect(source, 'a/bc'),
        [line('a/bc/z', true, 1)],
        'a namespace named alike is kept',
      );
      source.snapshot(snapshot({ 'a/bc': 2 }, [line('a/bc/z', false, 2)], true));
      assert.deepEqual(reloaded, ['a/b', 'a/bc', 'a/b']);
      assert.deepEqual(await collect(source, 'a/b'), []);
      assert.deepEqual(await collect(source, 'a/bc'), [line('a/bc/z', false, 2)]);
      assert.equal(store.size, 1);
      assert.deepEqual(store.namespaces(), ['a/bc']);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
