/**
 * A real Unleash server on PostgreSQL as a benchmark peer, set up by the benchmark itself:
 *
 * - Debian's `postgresql` (apt-get, as root) when no `/usr/lib/postgresql/<v>/bin/initdb` is there;
 * - `unleash-server@UNLEASH_VERSION` and the Node it requires (`node-<os>-<arch>@NODE_VERSION`, a Node
 *   binary published on the npm registry) installed with `npm install --prefix` into `.install/` next to
 *   this file: outside the workspaces, git-ignored, nothing of Unleash committed;
 * - a throwaway PostgreSQL cluster of its own (initdb in a temp dir, run as the `postgres` user when we are
 *   root, since PostgreSQL refuses to run as root) on a free loopback port, with its stock settings;
 * - Unleash started through its Node API (`unleash-main.mjs`) in a child process on a free loopback port,
 *   `open-source` authentication with API tokens created at start (`INIT_*_API_TOKENS`), version check and
 *   telemetry off, its rate limits raised out of the way (as Switchyard's are turned off in the benchmarks).
 *
 * Everything is idempotent: a second run reuses the installation. `stop()` ends Unleash and PostgreSQL
 * and deletes the cluster. Run directly (`node --import tsx bench/peers/unleash-server/setup.ts`) it
 * installs, starts, checks the admin API and stops: a smoke test of the setup.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../harness/switchyard-process.js';

/** The newest 8.2 release on npm when this was written (`npm view unleash-server versions`). */
export const UNLEASH_VERSION = '8.2.0';
/** unleash-server 8.2 declares `engines.node >= 22` (sanitize-html ≥ 22.12); the benchmarks run on Node 20. */
export const NODE_VERSION = '22.23.3';

const HERE = import.meta.dirname;
export const INSTALL_DIR = join(HERE, '.install');
const NODE_PACKAGE = `node-${process.platform}-${process.arch}`;
const UNLEASH_PACKAGE_DIR = join(INSTALL_DIR, 'node_modules', 'unleash-server');
const NODE_BINARY = join(INSTALL_DIR, 'node_modules', NODE_PACKAGE, 'bin', 'node');

/** The API tokens Unleash is started with: `<project>:<environment>.<secret>`, as Unleash spells them. */
export const TOKENS = {
  admin: '*:*.switchyard-bench-admin',
  client: 'default:production.switchyard-bench-client',
  frontend: 'default:production.switchyard-bench-frontend',
} as const;

/** The admin user Unleash creates at its first start; it signs in once to make a personal access token. */
const ADMIN_USER = { username: 'admin', password: 'switchyard-bench-Unleash-8' };

const log = (message: string) => process.stderr.write(`unleash peer: ${message}\n`);

function run(command: string, args: readonly string[], options: { cwd?: string } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: options.cwd });
  if (result.error !== undefined) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}): ${(result.stderr || result.stdout).slice(-2000)}`,
    );
  }
  return result.stdout;
}

const isRoot = () => process.getuid?.() === 0;

/** The bin directory of the newest PostgreSQL Debian installed, or undefined. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Installs Debian's `postgresql` when missing; returns its bin directory. */
export function ensurePostgres(): string {
  const found = postgresBin();
  if (found !== undefined) return found;
  if (!isRoot()) throw new Error('PostgreSQL is not installed and we are not root to apt-get it');
  log('PostgreSQL is missing: installing Debian’s postgresql with apt-get');
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  if (!install()) {
    run('apt-get', ['update', '-q']);
    if (!install()) throw new Error('apt-get install postgresql failed');
  }
  const bin = postgresBin();
  if (bin === undefined) throw new Error('postgresql installed, but no /usr/lib/postgresql/*/bin/initdb');
  return bin;
}

function installedVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Installs unleash-server and its Node into `.install/` unless the pinned versions are there. */
export function ensureUnleashInstalled(): void {
  const nodeOk = existsSync(NODE_BINARY) && installedVersion(join(NODE_BINARY, '..', '..')) === NODE_VERSION;
  if (installedVersion(UNLEASH_PACKAGE_DIR) === UNLEASH_VERSION && nodeOk) return;
  log(`installing unleash-server@${UNLEASH_VERSION} and ${NODE_PACKAGE}@${NODE_VERSION} into ${INSTALL_DIR}`);
  mkdirSync(INSTALL_DIR, { recursive: true });
  // Its own package.json, so that npm treats the directory as a project and not as part of the workspaces.
  writeFileSync(
    join(INSTALL_DIR, 'package.json'),
    `${JSON.stringify(
      {
        name: 'switchyard-bench-unleash-server',
        private: true,
        description: 'Installed by bench/peers/unleash-server/setup.ts; not committed.',
      },
      null,
      2,
    )}\n`,
  );
  run(
    'npm',
    [
      'install',
      '--prefix',
      INSTALL_DIR,
      '--no-audit',
      '--no-fund',
      '--save-exact',
      '--loglevel=error',
      `unleash-server@${UNLEASH_VERSION}`,
      `${NODE_PACKAGE}@${NODE_VERSION}`,
    ],
    { cwd: INSTALL_DIR },
  );
  if (!existsSync(NODE_BINARY)) throw new Error(`${NODE_PACKAGE} has no bin/node after npm install`);
}

export interface Postgres {
  port: number;
  dir: string;
  /** The postmaster's pid (the backends are its children). */
  pid(): number;
  stop(): void;
}

/** initdb + pg_ctl start of a throwaway cluster on a free loopback port, with a database `unleash`. */
export async function startPostgres(bin: string): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-unleash-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root: as root, its tools run as Debian's `postgres` user.
  const asOwner = (tool: string, args: readonly string[]) =>
    isRoot()
      ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args])
      : run(join(bin, tool), args);
  if (isRoot()) {
    const uid = Number(run('id', ['-u', 'postgres']).trim());
    const gid = Number(run('id', ['-g', 'postgres']).trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  asOwner('initdb', ['-D', data, '-U', 'unleash', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const stop = () => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        asOwner('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } catch (error) {
        log(`pg_ctl stop: ${(error as Error).message}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    asOwner('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'postgres.log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      'start',
    ]);
    run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'unleash', 'unleash']);
  } catch (error) {
    stop();
    throw error;
  }
  return {
    port,
    dir,
    pid: () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]),
    stop,
  };
}

export interface UnleashServer {
  url: string;
  child: ChildProcess;
  postgres: Postgres;
  /**
   * A personal access token of the admin user: the import API refuses admin API tokens ("use either a
   * personal access token or a service account"; service accounts are not in the open-source edition).
   */
  patToken: string;
  /** Seconds from spawning Unleash to its `/health` answering (migrations of an empty database included). */
  startSeconds: number;
  versions: { unleash: string; node: string; postgres: string };
  stop(): Promise<void>;
}

/**
 * Everything above, then Unleash: resolves once `/health` answers GOOD. Throws with the reason when any
 * step fails (the callers report the peer as not measured).
 */
export async function startUnleashServer(): Promise<UnleashServer> {
  const bin = ensurePostgres();
  ensureUnleashInstalled();
  const postgres = await startPostgres(bin);
  const port = await freePort();
  const started = performance.now();
  const child = spawn(NODE_BINARY, [join(HERE, 'unleash-main.mjs')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      UNLEASH_SERVER_IMPL: join(UNLEASH_PACKAGE_DIR, 'dist', 'lib', 'server-impl.js'),
      UNLEASH_PORT: String(port),
      UNLEASH_DB_PORT: String(postgres.port),
      INIT_ADMIN_API_TOKENS: TOKENS.admin,
      INIT_BACKEND_API_TOKENS: TOKENS.client,
      INIT_FRONTEND_API_TOKENS: TOKENS.frontend,
      UNLEASH_DEFAULT_ADMIN_USERNAME: ADMIN_USER.username,
      UNLEASH_DEFAULT_ADMIN_PASSWORD: ADMIN_USER.password,
      // Its rate limits off in effect (20,000 a minute by default for SDK and token-authenticated API
      // calls), as Switchyard's server runs in the benchmarks with `--rate-limit-per-token 0`.
      SDK_API_RATE_LIMIT_PER_MINUTE: '1000000000',
      TOKEN_AUTHENTICATION_RATE_LIMIT_PER_MINUTE: '1000000000',
      // At most 5,000 flags by default (`resourceLimits.featureFlags`): the benchmarks go beyond.
      UNLEASH_FEATURE_FLAGS_LIMIT: '100000000',
      CHECK_VERSION: 'false',
      SEND_TELEMETRY: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  // If the benchmark dies or is interrupted, PostgreSQL (a daemon of pg_ctl's) must not outlive it.
  const onExit = () => {
    child.kill('SIGKILL');
    postgres.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`unleash peer: ${signal}: stopping Unleash and PostgreSQL\n`);
    process.exit(130);
  };
  process.once('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = async () => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    postgres.stop();
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 300_000;
  let up = false;
  while (!up && !gone && Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/health`);
      up = response.status === 200 && ((await response.json()) as { health?: string }).health === 'GOOD';
    } catch {}
    if (!up) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (!up) {
    child.kill('SIGKILL');
    await stop();
    throw new Error(`unleash-server did not come up${gone ? ' (it exited)' : ''}:\n${output}`);
  }
  const startSeconds = (performance.now() - started) / 1000;
  let patToken: string;
  try {
    // Right after `/health` turns GOOD the session is not always honoured yet: a few tries.
    for (let attempt = 1; ; attempt++) {
      try {
        patToken = await personalAccessToken(url);
        break;
      } catch (error) {
        if (attempt === 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const versions = {
    unleash: installedVersion(UNLEASH_PACKAGE_DIR) ?? '?',
    node: run(NODE_BINARY, ['--version']).trim(),
    postgres: run(join(bin, 'postgres'), ['--version']).trim(),
  };
  return { url, child, postgres, patToken, startSeconds, versions, stop };
}

/** Signs in as the admin user (`/auth/simple/login`) and creates a personal access token for a day. */
async function personalAccessToken(url: string): Promise<string> {
  const login = await fetch(`${url}/auth/simple/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN_USER),
  });
  if (login.status !== 200) throw new Error(`Unleash login → ${login.status}: ${await login.text()}`);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const response = await fetch(`${url}/api/admin/user/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({
      description: 'switchyard bench import',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    }),
  });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`Unleash PAT → ${response.status}: ${text.slice(0, 300)}`);
  }
  return (JSON.parse(text) as { secret: string }).secret;
}

if (process.argv[1] === import.meta.filename) {
  const server = await startUnleashServer();
  try {
    log(
      `up at ${server.url} in ${server.startSeconds.toFixed(1)} s: unleash-server ${server.versions.unleash} on Node ${server.versions.node}, ${server.versions.postgres}`,
    );
    const response = await fetch(`${server.url}/api/admin/projects`, {
      headers: { authorization: TOKENS.admin },
    });
    log(`GET /api/admin/projects → ${response.status}`);
    if (response.status !== 200) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}
