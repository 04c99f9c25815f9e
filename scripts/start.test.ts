/**
 * `npm start` (scripts/start.mjs) as a newcomer meets it: whatever stops its process stops the server —
 * SIGINT, SIGTERM, SIGHUP, or its parent dying — and then `npx switchyard` runs the built command through
 * the committed launcher, which says how to build when there is nothing built yet.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../packages/cli/src/testing/processes.js';

const ROOT = join(import.meta.dirname, '..');
/** Building on a loaded machine is slow; every wait is bounded by this. */
const START_MS = 180_000;
const STOP_MS = 30_000;

const dirs: string[] = [];
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-start-'));
  dirs.push(dir);
  return dir;
}

/** Resolves once `child`'s output includes `text`; rejects when it exits first or after `ms`. */
function outputIncludes(child: ChildProcess, text: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms:\n${output}`)), ms);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before "${text}":\n${output}`));
    });
  });
}

/** Resolves with how `child` exited; rejects after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Whether something accepts connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether the process is gone (or a zombie nobody reaped yet, which holds no port and runs nothing). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

/** Polls `check` until it holds, at most `ms`: for a process that is no child of ours, nothing else tells. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `node scripts/start.mjs` (what `npm start` runs) and waits until the server is up. */
async function start(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['scripts/start.mjs', '--port', String(port), '--data', dataDir()], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  await outputIncludes(child, 'API docs:', START_MS);
  return child;
}

describe('npm start', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`stops the server when its process gets ${signal}`, async () => {
      const port = await freePort();
      const child = await start(port);
      assert.equal(await listening(port), true);
      child.kill(signal);
      const { code } = await exited(child, STOP_MS);
      assert.equal(code, 0, `a clean stop on ${signal}`);
      assert.equal(await listening(port), false, 'nothing listens on the port any more');
    });
  }

  it('stops the server when its parent dies without passing a signal on', async () => {
    const port = await freePort();
    // A parent like npm: it starts the script and is then killed with SIGKILL, telling nobody.
    const parent = spawn(
      'sh',
      [
        '-c',
        `"${process.execPath}" scripts/start.mjs --port ${port} --data "${dataDir()}" & echo "pid=$!"; wait`,
      ],
      { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(parent);
    const output = await outputIncludes(parent, 'API docs:', START_MS);
    const pid = Number(/pid=(\d+)/.exec(output)?.[1]);
    assert.ok(pid > 0, output);
    parent.kill('SIGKILL');
    await exited(parent, STOP_MS);
    await eventually(() => gone(pid), STOP_MS, 'the server did not stop when its parent died');
    assert.equal(await listening(port), false);
  });
});

describe('npx switchyard', () => {
  it('runs the built command through the committed launcher', () => {
    const build = spawnSync('npx', ['tsc', '-b', 'packages/cli'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: START_MS,
    });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8'));
    const launcher = join(ROOT, 'packages/cli', manifest.bin.switchyard);
    assert.equal(realpathSync(join(ROOT, 'node_modules/.bin/switchyard')), launcher);
    const version = spawnSync('npx', ['--no', '--', 'switchyard', '--version'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: STOP_MS,
    });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), manifest.version);
  });

  it('says how to build when nothing is built yet', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'switchyard-fresh-'));
    dirs.push(fresh);
    mkdirSync(join(fresh, 'bin'));
    copyFileSync(join(ROOT, 'packages/cli/bin/switchyard.js'), join(fresh, 'bin/switchyard.js'));
    assert.equal(existsSync(join(fresh, 'dist')), false);
    const result = spawnSync(process.execPath, [join(fresh, 'bin/switchyard.js'), '--version'], {
      encoding: 'utf8',
      timeout: STOP_MS,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /not built yet; run `npm run build` \(or `npm start`\)/);
  });
});
