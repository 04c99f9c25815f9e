import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { runConformanceSuite } from '../conformance/suite.js';
import { LmdbAdapter } from './lmdb.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

runConformanceSuite({
  name: 'lmdb',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-lmdb-'));
    dirs.push(dir);
    return new LmdbAdapter({ path: dir });
  },
});
