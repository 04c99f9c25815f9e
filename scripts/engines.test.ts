/**
 * Every installed npm package supports the Node that runs the tests: the README promises Node 20, and a
 * dependency declaring `engines.node: ">=22"` installs on Node 20 with a warning only, then breaks at
 * run time. Versions that support Node 20 are pinned in package.json (`overrides` for transitive ones).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import semver from 'semver';

const ROOT = join(import.meta.dirname, '..');

/** The directories of the packages installed under `modules`, nested ones included. */
function installed(modules: string, out: string[] = []): string[] {
  if (!existsSync(modules)) return out;
  for (const entry of readdirSync(modules, { withFileTypes: true })) {
    // Links are the workspaces themselves; `.bin` and `.package-lock.json` are npm's.
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = join(modules, entry.name);
    if (entry.name.startsWith('@')) {
      installed(dir, out);
    } else if (existsSync(join(dir, 'package.json'))) {
      out.push(dir);
      installed(join(dir, 'node_modules'), out);
    }
  }
  return out;
}

/** Every workspace's own node_modules, and the root's. */
function allInstalled(): string[] {
  const workspaces = ['bench', ...readdirSync(join(ROOT, 'packages')).map((name) => join('packages', name))];
  return [ROOT, ...workspaces.map((w) => join(ROOT, w))].flatMap((dir) =>
    installed(join(dir, 'node_modules')),
  );
}

describe('installed dependencies', () => {
  it(`all support the running Node (${process.version}) in their engines.node`, () => {
    const dirs = allInstalled();
    assert.ok(dirs.length > 100, `found only ${dirs.length} installed packages; is node_modules there?`);
    const excluded: string[] = [];
    for (const dir of dirs) {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
        engines?: { node?: unknown };
      };
      const range = manifest.engines?.node;
      if (typeof range !== 'string' || semver.validRange(range) === null) continue;
      if (!semver.satisfies(process.version, range, { includePrerelease: true })) {
        excluded.push(
          `${manifest.name}@${manifest.version} wants node ${range} (${dir.slice(ROOT.length + 1)})`,
        );
      }
    }
    assert.deepEqual(excluded, [], `pin versions that support ${process.version}:\n${excluded.join('\n')}`);
  });
});
