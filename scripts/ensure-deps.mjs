// Installs what the tests need before `npm test` runs them: the npm dependencies pinned by
// package-lock.json, whenever node_modules is missing or older than the lock file.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const installed = 'node_modules/.package-lock.json';
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.log('ensure-deps: installing npm dependencies from package-lock.json');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
