/**
 * Kills a writing process with SIGKILL at random moments, again and again, and checks after each kill
 * that the store reopens with every acknowledged change, nothing half-written, and a verifying ledger.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LmdbAdapter } from '../adapters/lmdb.js';
import { FlagStore } from '../store.js';

const KILLS = 24;
const WORKERS = 4;
/** A run is killed right after its n-th acknowledgement, n drawn from 1..MAX_ACKS_BEFORE_KILL. */
const MAX_ACKS_BEFORE_KILL = 40;
/** How long a run may take to reach its acknowledgements before the test fails (not a pass condition). */
const RUN_TIMEOUT_MS = 120_000;
const writer = join(import.meta.dirname, 'lmdb-writer.ts');
const dir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the writer until it has acknowledged `wanted` changes, kills it at that moment (other changes are
 * in flight then), and returns its acks. Waits for the acknowledgements, however slow the machine, up to
 * RUN_TIMEOUT_MS.
 */
function runAndKill(wanted: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', writer, dir, String(WORKERS)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const acks = new Map<string, number>();
    let buffered = '';
    let stderr = '';
    let count = 0;
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the writer acknowledged ${count} of ${wanted} changes in ${RUN_TIMEOUT_MS} ms`));
    }, RUN_TIMEOUT_MS);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, key, version] = line.split(' ');
        if (word !== 'ack' || count >= wanted) continue;
        acks.set(key!, Math.max(acks.get(key!) ?? 0, Number(version)));
        if (++count === wanted) child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timeout);
      if (signal === 'SIGKILL' && count === wanted) resolve(acks);
      else reject(new Error(`writer exited with ${code ?? signal} before it was killed:\n${stderr}`));
    });
  });
}

describe('LMDB under SIGKILL', () => {
  it(`keeps every acknowledged change and a verifiable ledger across ${KILLS} kills`, async () => {
    const acknowledged = new Map<string, number>();
    for (let round = 0; round < KILLS; round++) {
      const acks = await runAndKill(1 + Math.floor(Math.random() * MAX_ACKS_BEFORE_KILL));
      for (const [key, version] of acks) {
        acknowledged.set(key, Math.max(acknowledged.get(key) ?? 0, version));
      }
      const store = new FlagStore(new LmdbAdapter({ path: dir }));
      try {
        for (const [key, version] of acknowledged) {
          const state = await store.flags.state(key, 'production');
          assert.ok(
            state !== undefined && state.version >= version,
            `${key}: acknowledged v${version}, found v${state?.version}`,
          );
          // The state is whole: the value written with its version, not a mix of two writes.
          if (state.version > 1) assert.deepEqual(state.state.targets, { v: [`written-${state.version}`] });
          const history = await store.flags.history(key, 'production', { limit: 1 });
          if (state.version > 1)
            assert.equal(history[0]?.version, state.version - 1, `${key}: history behind v${state.version}`);
        }
        const verified = await store.ledger.verify('crash/test');
        assert.equal(verified.ok, true, `round ${round}: ${JSON.stringify(verified.problem)}`);
        // Every state version has its event: creates plus updates equal the sum of versions.
        let versions = 0;
        for (let w = 0; w < WORKERS; w++)
          versions += (await store.flags.state(`crash/test/flag-${w}`, 'production'))?.version ?? 0;
        assert.equal(verified.head.seq, versions, 'one event per committed version, no more, no less');
      } finally {
        await store.close();
      }
    }
  });
});
