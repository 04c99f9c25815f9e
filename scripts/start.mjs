// `npm start`: installs the npm dependencies when they are missing, builds the packages, and runs the
// control-plane server (`switchyard serve`) on LMDB under ./data at http://localhost:8080.
// Arguments after `--` reach the server: `npm start -- --port 9090 --data /var/lib/switchyard`.
import { execSync, spawn } from 'node:child_process';

execSync('node scripts/ensure-deps.mjs --npm-only', { stdio: 'inherit' });
console.log('Building…');
execSync('npx tsc -b packages/cli', { stdio: 'inherit' });
const server = spawn(process.execPath, ['packages/cli/dist/main.js', 'serve', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
