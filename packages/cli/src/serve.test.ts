/**
 * `switchyard serve` as a real process: the first start creates the environments and prints an admin
 * token once; a restart keeps every flag and token and prints none. A start that cannot begin fails with
 * one line and creates nothing; `switchyard admin-token` mints a new admin token where the data is.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, kill, MAIN, startSwitchyard } from './testing/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-serve-'));
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the server and resolves with its output once it says where the API docs are. */
async function serve(
  port: number,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ child: ChildProcess; output: string }> {
  const started = await startSwitchyard(
    ['serve', '--port', String(port), '--data', dir, ...args],
    'API docs:',
    env,
  );
  running.add(started.child);
  return { child: started.child, output: started.output() };
}

async function stop(child: ChildProcess): Promise<void> {
  await kill(child, 'SIGTERM');
  running.delete(child);
}

describe('switchyard serve', () => {
  it('bootstraps on first start, and keeps everything across a restart', async () => {
    const port = await freePort();
    const first = await serve(port);
    assert.match(first.output, /Created environments: development, staging, production/);
    const token = /Admin token \(shown once; keep it safe\):\s+(sy_\S+)/.exec(first.output)?.[1];
    assert.ok(token, first.output);
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`http://127.0.0.1:${port}/api/v1/flags`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        key: 'app/web/kept',
        type: 'boolean',
        variations: { on: true, off: false },
        environments: {},
      }),
    });
    assert.equal(created.status, 201);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(
      metrics,
      /switchyard_store_operation_duration_seconds_count\{operation="commit",outcome="ok"\} \d+/,
    );
    await stop(first.child);

    const second = await serve(port);
    assert.doesNotMatch(second.output, /Admin token|Created environments/);
    const read = await fetch(`http://127.0.0.1:${port}/api/v1/flags/${encodeURIComponent('app/web/kept')}`, {
      headers: auth,
    });
    assert.equal(read.status, 200);
    const view = (await read.json()) as { states: Record<string, unknown> };
    assert.deepEqual(Object.keys(view.states).sort(), ['development', 'production', 'staging']);
    await stop(second.child);
  });

  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const certs = mkdtempSync(join(tmpdir(), 'switchyard-tls-'));
    const key = join(certs, 'key.pem');
    const cert = join(certs, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const port = await freePort();
    const server = await serve(port, {}, ['--tls-cert', cert, '--tls-key', key]);
    assert.match(server.output, new RegExp(`on https://127\\.0\\.0\\.1:${port}`));
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet({ host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(cert) }, (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.deepEqual(JSON.parse(body), { status: 'ok' });
    await stop(server.child);
    rmSync(certs, { recursive: true, force: true });
  });

  it('encrypts sensitive values at rest with SWITCHYARD_MASTER_KEY, and reads them after a restart', async () => {
    const port = await freePort();
    const env = {
      SWITCHYARD_ADMIN_TOKEN: `sy_${'cd'.repeat(8)}_${'d'.repeat(43)}`,
      SWITCHYARD_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    const headers = {
      authorization: `Bearer ${env.SWITCHYARD_ADMIN_TOKEN}`,
      'content-type': 'application/json',
    };
    const secret = 'whsec_0123456789-super-secret';
    let server = await serve(port, env);
    const created = await fetch(`http://127.0.0.1:${port}/api/v1/flags`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        key: 'app/hooks/signing',
        type: 'string',
        sensitive: true,
        variations: { current: secret, none: '' },
        environments: {},
      }),
    });
    assert.equal(created.status, 201, await created.text());
    await stop(server.child);
    const files = Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
    assert.equal(files.includes(Buffer.from(secret)), false, 'no plaintext in the data directory');
    server = await serve(port, env);
    const read = await fetch(
      `http://127.0.0.1:${port}/api/v1/flags/${encodeURIComponent('app/hooks/signing')}`,
      { headers },
    );
    const view = (await read.json()) as { meta: { variations: Record<string, string> } };
    assert.equal(view.meta.variations.current, secret);
    await stop(server.child);
  });

  it('appends accepted exposure events to --exposures-file and counts them', async () => {
    const port = await freePort();
    const token = `sy_${'ef'.repeat(8)}_${'e'.repeat(43)}`;
    const file = join(dir, 'exposures.jsonl');
    const server = await serve(port, { SWITCHYARD_ADMIN_TOKEN: token }, ['--exposures-file', file]);
    assert.match(server.output, /Appending exposure events to .*exposures\.jsonl/);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const base = `http://127.0.0.1:${port}`;
    const created = await fetch(`${base}/api/v1/flags`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        key: 'app/web/seen',
        type: 'boolean',
        variations: { on: true, off: false },
        environments: {},
      }),
    });
    assert.equal(created.status, 201);
    const sent = await fetch(`${base}/events/v1`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        environment: 'staging',
        events: [{ kind: 'exposure', flag: 'app/web/seen', variant: 'on', count: 3 }],
      }),
    });
    assert.deepEqual(await sent.json(), { accepted: 1 });
    let total = 0;
    for (let i = 0; i < 100 && total !== 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const read = await fetch(
        `${base}/api/v1/flags/${encodeURIComponent('app/web/seen')}/exposures?environment=staging`,
        {
          headers,
        },
      );
      total = ((await read.json()) as { total: number }).total;
    }
    assert.equal(total, 3);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).flag, 'app/web/seen');
    await stop(server.child);
  });

  it('refuses bad arguments with a clear message and a non-zero exit', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, 'serve', ...args], {
        encoding: 'utf8',
      });
    const port = run('--port', 'abc');
    assert.notEqual(port.status, 0);
    assert.match(port.stderr, /"abc" is not a port/);
    const tls = run('--tls-cert', 'only-one.pem');
    assert.notEqual(tls.status, 0);
    assert.match(tls.stderr, /--tls-cert and --tls-key go together/);
    const webhook = run('--exposures-webhook', 'ftp://example.com/x');
    assert.notEqual(webhook.status, 0);
    assert.match(webhook.stderr, /is not an http:\/\/ or https:\/\/ URL/);
  });

  it('takes the first admin token from SWITCHYARD_ADMIN_TOKEN', async () => {
    const port = await freePort();
    const chosen = `sy_${'ab'.repeat(8)}_${'c'.repeat(43)}`;
    const server = await serve(port, { SWITCHYARD_ADMIN_TOKEN: chosen });
    assert.doesNotMatch(server.output, /shown once/);
    const listed = await fetch(`http://127.0.0.1:${port}/api/v1/tokens`, {
      headers: { authorization: `Bearer ${chosen}` },
    });
    assert.equal(listed.status, 200);
    await stop(server.child);
  });
});

/** Runs `switchyard <args>` to its end (bounded), for commands that finish or fail to start. */
function runSwitchyard(args: readonly string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  });
}

/** Asserts a failed start: exit 2 (a usage or start-up error), and stderr one line matching `message`, with no stack trace. */
function assertOneLineFailure(result: ReturnType<typeof runSwitchyard>, message: RegExp): void {
  assert.equal(result.status, 2, `exit ${result.status}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${result.stderr}`);
  assert.match(lines[0]!, message);
}

describe('a start that cannot begin', () => {
  it('fails with one line on a busy port, creates no admin token, and the next start prints it', async () => {
    const data = mkdtempSync(join(tmpdir(), 'switchyard-busy-'));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const failed = runSwitchyard(['serve', '--port', String(busy), '--data', data]);
      assertOneLineFailure(failed, new RegExp(`^serve: port ${busy} on 127\\.0\\.0\\.1 is already in use`));
      assert.doesNotMatch(failed.stdout, /Admin token/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    const started = await startSwitchyard(
      ['serve', '--port', String(await freePort()), '--data', data],
      'API docs:',
    );
    running.add(started.child);
    assert.match(started.output(), /Admin token \(shown once; keep it safe\):\s+sy_\S+/);
    await stop(started.child);
    rmSync(data, { recursive: true, force: true });
  });

  it('fails with one line on a malformed SWITCHYARD_ADMIN_TOKEN, without repeating it', () => {
    const data = mkdtempSync(join(tmpdir(), 'switchyard-badtoken-'));
    const failed = runSwitchyard(['serve', '--port', '0', '--data', data], {
      SWITCHYARD_ADMIN_TOKEN: 'not-a-token-s3cret',
    });
    assertOneLineFailure(
      failed,
      /^serve: the admin token \(SWITCHYARD_ADMIN_TOKEN\) is malformed: a token has the form sy_/,
    );
    assert.doesNotMatch(failed.stderr, /s3cret/);
    rmSync(data, { recursive: true, force: true });
  });

  it('fails with one line on a malformed SWITCHYARD_MASTER_KEY, without repeating it', () => {
    const data = mkdtempSync(join(tmpdir(), 'switchyard-badkey-'));
    const failed = runSwitchyard(['serve', '--port', '0', '--data', data], {
      SWITCHYARD_MASTER_KEY: 'short-k3y',
    });
    assertOneLineFailure(failed, /^serve: SWITCHYARD_MASTER_KEY: an encryption key is 32 bytes/);
    assert.doesNotMatch(failed.stderr, /k3y/);
    rmSync(data, { recursive: true, force: true });
  });

  it('fails with one line when the data directory cannot be opened', () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    assertOneLineFailure(
      runSwitchyard(['serve', '--port', '0', '--data', file]),
      /^serve: cannot open the data directory .*not-a-directory: a file is in the way of the directory$/,
    );
    assertOneLineFailure(
      runSwitchyard(['serve', '--port', '0', '--data', join(file, 'below')]),
      /^serve: cannot open the data directory .*below: a file is in the way of the directory$/,
    );
  });
});

describe('switchyard admin-token', () => {
  it('mints a working admin token in the data of a running server and prints it once', async () => {
    const data = mkdtempSync(join(tmpdir(), 'switchyard-mint-'));
    const port = await freePort();
    const server = await startSwitchyard(['serve', '--port', String(port), '--data', data], 'API docs:');
    running.add(server.child);
    // The first token is lost; a person on the machine holding the data mints another.
    const minted = runSwitchyard(['admin-token', '--data', data, '--name', 'rescue']);
    assert.equal(minted.status, 0, minted.stderr);
    assert.match(minted.stderr, /Admin token "rescue" \(shown once; keep it safe\)/);
    const token = minted.stdout.trim();
    assert.match(token, /^sy_[a-f0-9]{16}_[A-Za-z0-9_-]{43}$/);
    const listed = await fetch(`http://127.0.0.1:${port}/api/v1/tokens`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(listed.status, 200);
    const names = ((await listed.json()) as { items: { name: string; role: string }[] }).items;
    assert.ok(names.some((t) => t.name === 'rescue' && t.role === 'admin'));
    await stop(server.child);
    rmSync(data, { recursive: true, force: true });
  });

  it('refuses a directory holding no Switchyard data, with one line, and creates nothing there', () => {
    const empty = mkdtempSync(join(tmpdir(), 'switchyard-nodata-'));
    assertOneLineFailure(
      runSwitchyard(['admin-token', '--data', empty]),
      /^admin-token: no Switchyard data in .*switchyard-nodata-\S+; give the --data directory/,
    );
    assert.deepEqual(readdirSync(empty), []);
    const missing = join(empty, 'missing');
    assertOneLineFailure(runSwitchyard(['admin-token', '--data', missing]), /no Switchyard data/);
    assert.equal(existsSync(missing), false);
    rmSync(empty, { recursive: true, force: true });
  });
});
