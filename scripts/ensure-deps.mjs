// Installs what the tests need before `npm test` runs them:
//   1. the npm dependencies pinned by package-lock.json, whenever node_modules is missing or older than the
//      lock file;
//   2. Debian's `redis-server` and `redis-cli` (package redis-server, which pulls in redis-tools), used by the
//      store's Redis adapter tests through packages/store/src/testing/redis-servers.ts. Those tests start their
//      own servers on ports they pick; the Debian service on 6379 is never used, so if installing the package
//      started it, it is stopped and disabled here.
// Idempotent: when everything is present it runs no install and spawns nothing but two `command -v` probes.
import { execFileSync, execSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';

const installed = 'node_modules/.package-lock.json';
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.log('ensure-deps: installing npm dependencies from package-lock.json');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}

/** Whether `name` resolves to an executable on PATH. */
function onPath(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Stops with a clear message saying what to install by hand. */
function fail(reason) {
  console.error(
    `ensure-deps: ${reason}\n` +
      'ensure-deps: the Redis tests need redis-server and redis-cli on PATH; install them with\n' +
      '  sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-server\n' +
      '(Debian/Ubuntu; the package redis-server brings redis-tools, which holds redis-cli).',
  );
  process.exit(1);
}

/** Runs a command for the install, echoing it; returns whether it exited 0. */
function run(command, args) {
  console.log(`ensure-deps: $ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) console.error(`ensure-deps: ${command}: ${result.error.message}`);
  return result.status === 0;
}

/** Runs a command quietly, ignoring its outcome (for best-effort service handling). */
function quiet(command, args) {
  spawnSync(command, args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * Stops and disables the Debian `redis-server` service if the package's install started it (it does on a
 * machine with a working init; not where /usr/sbin/policy-rc.d forbids starting services, as in containers).
 * Only the service's own process is signalled, found by the pid file the Debian unit writes.
 */
function stopDebianService() {
  const pidFile = '/run/redis/redis-server.pid';
  const running = () => {
    if (!existsSync(pidFile)) return undefined;
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  };
  // Disabling keeps a reboot from starting it again; harmless where there is no init system.
  if (onPath('systemctl')) quiet('systemctl', ['disable', '--now', 'redis-server']);
  if (onPath('update-rc.d')) quiet('update-rc.d', ['redis-server', 'disable']);
  if (running() !== undefined && onPath('service')) quiet('service', ['redis-server', 'stop']);
  const pid = running();
  if (pid !== undefined) {
    console.log(`ensure-deps: stopping the Debian redis-server service (pid ${pid}) so nothing holds 6379`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  if (running() === undefined) console.log('ensure-deps: the Debian redis-server service is not running');
}

// `--npm-only` (used by `npm start`) stops here: only the tests need Redis.
if (process.argv.includes('--npm-only')) process.exit(0);

if (!onPath('redis-server') || !onPath('redis-cli')) {
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
    fail('redis-server is missing and this is not a Debian-like system with apt-get.');
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    fail('redis-server is missing and installing it with apt-get needs root (this is not root).');
  }
  console.log('ensure-deps: redis-server/redis-cli not on PATH; installing the Debian package redis-server');
  if (!run('apt-get', ['update'])) fail('`apt-get update` failed.');
  if (!run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'])) {
    fail('`apt-get install redis-server` failed.');
  }
  stopDebianService();
  if (!onPath('redis-server') || !onPath('redis-cli')) {
    fail('redis-server was installed but redis-server or redis-cli is still not on PATH.');
  }
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  console.log(`ensure-deps: installed ${version}`);
}
