// `npm start`: installs the npm dependencies when they are missing, builds the packages, and runs the
// control-plane server (`switchyard serve`) on LMDB under ./data at http://localhost:8080.
// Arguments after `--` reach the server: `npm start -- --port 9090 --data /var/lib/switchyard`.
//
// The server runs in this very process, not in a child, so whatever stops this process stops the server:
// SIGINT, SIGTERM and SIGHUP close it cleanly. When the parent (npm) dies without passing a signal on,
// this process is re-parented; it notices within a second and closes the same way.
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

execSync('node scripts/ensure-deps.mjs --npm-only', { stdio: 'inherit' });
console.log('Building…');
execSync('npx tsc -b packages/cli', { stdio: 'inherit' });

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGHUP');
}, 1000).unref();

const main = new URL('../packages/cli/dist/main.js', import.meta.url);
process.argv = [process.argv[0], fileURLToPath(main), 'serve', ...process.argv.slice(2)];
await import(main.href);
