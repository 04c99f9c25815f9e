/**
 * `switchyard serve --cors-origin`: browsers on the given origins may call the delivery routes; a value
 * that is not an origin is refused at the command line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, kill, MAIN, startSwitchyard } from './testing/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-serve-cors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('switchyard serve --cors-origin', () => {
  it('answers preflights of OFREP from each origin given', async () => {
    const port = await freePort();
    const origins = ['https://a.example.com', 'http://localhost:5173'];
    const { child } = await startSwitchyard(
      ['serve', '--port', String(port), '--data', dir, ...origins.flatMap((o) => ['--cors-origin', o])],
      'API docs:',
    );
    try {
      for (const origin of origins) {
        const response = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST' },
        });
        assert.equal(response.status, 204);
        assert.equal(response.headers.get('access-control-allow-origin'), origin);
      }
    } finally {
      await kill(child, 'SIGTERM');
    }
  });

  it('refuses a value that is not an origin', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        MAIN,
        'serve',
        '--cors-origin',
        'https://a.example.com/path',
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /is not an origin/);
  });
});
