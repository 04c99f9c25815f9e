/**
 * The relay against a hostile upstream (a real node:http server that misbehaves on purpose): what it reads
 * from upstream is checked, a bad answer never stops a relay that has data nor 500s its SDKs, and it
 * serves only the environment of its key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RelayOptions, type RunningRelay, startRelay } from './relay.js';
import { type FakeUpstream, fakeUpstream, flagLine, type Handler, snapshotBody, until } from './testing.js';

const RELAY_KEY = 'sy_relay';
const SDK_KEY = 'sy_sdk';
const VIEWER = 'sy_viewer';

const key = (id: string, role: string, environments: string[]) => ({
  id,
  name: id,
  role,
  environments,
  namespaces: [],
});
const flags = [flagLine('team/one/a', { on: 'yes', off: 'no' })];

let upstream: FakeUpstream;
let dir: string;
const relays: RunningRelay[] = [];

async function relay(name: string, extra: Partial<RelayOptions> = {}): Promise<RunningRelay> {
  const running = await startRelay(
    {
      upstream: upstream.url,
      sdkKey: RELAY_KEY,
      region: name,
      data: join(dir, name),
      port: 0,
      host: '127.0.0.1',
      heartbeatMs: 100,
      logLevel: false,
      feed: {
        initialRetryMs: 20,
        maxRetryMs: 100,
        readTimeoutMs: 2000,
        requestTimeoutMs: 2000,
        maxEventLength: 1024 * 1024,
      },
      ...extra,
    },
    () => {},
  );
  relays.push(running);
  return running;
}

async function stop(running: RunningRelay): Promise<void> {
  relays.splice(relays.indexOf(running), 1);
  await running.close();
}

const get = (running: RunningRelay, path: string, sdkKey: string) =>
  fetch(`${running.address}${path}`, { headers: { authorization: `Bearer ${sdkKey}` } });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-hostile-'));
  upstream = await fakeUpstream({
    [RELAY_KEY]: key('relay', 'sdk-server', ['production']),
    [SDK_KEY]: key('sdk', 'sdk-server', ['production']),
    [VIEWER]: key('viewer', 'viewer', []),
  });
  upstream.snapshot = snapshotBody('production', { 'team/one': 1 }, flags);
});

after(async () => {
  for (const running of relays) await running.close().catch(() => {});
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the relay with a hostile upstream', () => {
  it('starts from its data and serves it when whoami answers 200 without JSON, and never 500s an SDK', async () => {
    upstream.handlers = { ...upstream.healthy };
    const first = await relay('whoami');
    const held = await get(first, '/sdk/v1/snapshot', SDK_KEY);
    assert.equal(held.status, 200);
    assert.match(await held.text(), /team\/one\/a/);
    await stop(first);

    const garbage: Handler = (_request, response) =>
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>a captive portal</html>');
    upstream.handlers = { ...upstream.healthy, '/sdk/v1/whoami': garbage, '/sdk/v1/stream': garbage };
    const again = await relay('whoami');
    // A key the relay has seen works from what it remembers; an unseen one gets a clear 503.
    const remembered = await get(again, '/sdk/v1/snapshot', SDK_KEY);
    assert.equal(remembered.status, 200);
    assert.match(await remembered.text(), /team\/one\/a/);
    const unseen = await get(again, '/sdk/v1/snapshot', VIEWER);
    assert.equal(unseen.status, 503);
    assert.match(
      ((await unseen.json()) as { detail: string }).detail,
      /cannot check a key it has not seen before: the upstream's \/sdk\/v1\/whoami answered 200 with no JSON/,
    );
    assert.equal(unseen.headers.get('retry-after'), '5');
    await stop(again);
  });

  it('refuses to start without data, saying why, when whoami answers something that is not a key', async () => {
    upstream.handlers = {
      ...upstream.healthy,
      '/sdk/v1/whoami': (_request, response) =>
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"role":"root"}'),
    };
    await assert.rejects(
      relay('no-data'),
      /has no data in .*no-data, and the upstream's \/sdk\/v1\/whoami answer is not a key: no string "id" and "name"/,
    );
  });

  it('answers 403 for an environment its key does not have, never an empty snapshot', async () => {
    upstream.handlers = { ...upstream.healthy };
    const running = await relay('environments');
    for (const path of ['/sdk/v1/snapshot?env=staging', '/sdk/v1/stream?env=staging']) {
      const response = await get(running, path, VIEWER);
      assert.equal(response.status, 403, path);
      await response.body?.cancel();
    }
    const bulk = await fetch(`${running.address}/ofrep/v1/evaluate/flags?env=staging`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIEWER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { targetingKey: 'u1' } }),
    });
    assert.equal(bulk.status, 403);
    const own = await get(running, '/sdk/v1/snapshot', VIEWER);
    assert.equal(own.status, 200);
    assert.match(await own.text(), /"environment":"production"[^\n]*\nF team\/one\/a/);
    await stop(running);
  });

  it('refuses a snapshot labelled with another environment than its key’s', async () => {
    upstream.handlers = {
      ...upstream.healthy,
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.end(snapshotBody('staging', { 'team/one': 1 }, flags));
      },
    };
    const running = await relay('labels');
    await until(() => running.circuit() === 'open', 'the circuit opens');
    const ready = await fetch(`${running.address}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { namespaces: number }).namespaces, 0);
    await stop(running);
  });

  it('answers SDKs 503 on snapshot, stream and OFREP while it has no data, never an empty complete snapshot', async () => {
    upstream.handlers = {
      ...upstream.healthy,
      '/sdk/v1/snapshot': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
        response.end(snapshotBody('staging', { 'team/one': 1 }, flags));
      },
    };
    const running = await relay('refused-snapshot');
    await until(() => running.circuit() === 'open', 'the circuit opens');
    const ofrep = (path: string) =>
      fetch(`${running.address}/ofrep/v1/evaluate/flags${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SDK_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ context: { targetingKey: 'u1' } }),
      });
    const answers = {
      snapshot: await get(running, '/sdk/v1/snapshot', SDK_KEY),
      stream: await get(running, '/sdk/v1/stream', SDK_KEY),
      'OFREP, one flag': await ofrep('/team/one/a'),
      'OFREP, all flags': await ofrep(''),
    };
    for (const [what, response] of Object.entries(answers)) {
      assert.equal(response.status, 503, what);
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8', what);
      assert.equal(response.headers.get('retry-after'), '5', what);
      assert.match(((await response.json()) as { detail: string }).detail, /has no data yet/, what);
    }
    // Once the upstream sends a snapshot it accepts, it serves it.
    upstream.handlers = { ...upstream.healthy };
    await until(async () => (await get(running, '/sdk/v1/snapshot', SDK_KEY)).status === 200, 'it serves');
    assert.equal((await ofrep('/team/one/a')).status, 200);
    assert.equal((await fetch(`${running.address}/readyz`)).status, 200);
    await stop(running);
  });

  it('lets browsers of an allowed origin call OFREP (--cors-origin), and no other origin', async () => {
    upstream.handlers = { ...upstream.healthy };
    const running = await relay('cors', { corsOrigins: ['https://app.example.com'] });
    const preflight = (origin: string) =>
      fetch(`${running.address}/ofrep/v1/evaluate/flags/team/one/a`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const allowed = await preflight('https://app.example.com');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(allowed.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const other = await preflight('https://evil.example.com');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const evaluated = await fetch(`${running.address}/ofrep/v1/evaluate/flags/team/one/a`, {
      method: 'POST',
      headers: {
        origin: 'https://app.example.com',
        authorization: `Bearer ${SDK_KEY}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ context: { targetingKey: 'u1' } }),
    });
    assert.equal(evaluated.status, 200);
    assert.equal(evaluated.headers.get('access-control-allow-origin'), 'https://app.example.com');
    await stop(running);
  });

  it('keeps serving its data while the upstream streams an event that never ends', async () => {
    upstream.handlers = { ...upstream.healthy };
    const running = await relay('endless');
    await until(() => running.circuit() === 'closed', 'the circuit closes');
    let cut = 0;
    upstream.handlers = {
      ...upstream.healthy,
      '/sdk/v1/stream': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('event: patch\ndata: ');
        const chunk = 'x'.repeat(64 * 1024);
        const pump = () => {
          while (!response.destroyed && response.write(chunk)) {}
          if (!response.destroyed) response.once('drain', pump);
        };
        response.on('close', () => cut++);
        pump();
      },
    };
    // The current stream ends; the next ones never finish their event.
    for (const stream of upstream.streams) stream.destroy();
    await until(() => cut >= 2, 'two endless streams cut', 10_000);
    const served = await get(running, '/sdk/v1/snapshot', SDK_KEY);
    assert.equal(served.status, 200);
    assert.match(await served.text(), /team\/one\/a/);
    await stop(running);
  });

  it('passes exposures on, but not an endless answer to them', async () => {
    upstream.handlers = { ...upstream.healthy };
    const running = await relay('exposures');
    let cut = false;
    upstream.handlers['/events/v1'] = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = ' '.repeat(64 * 1024);
      const pump = () => {
        while (!response.destroyed && response.write(chunk)) {}
        if (!response.destroyed) response.once('drain', pump);
      };
      response.on('close', () => {
        cut = true;
      });
      pump();
    };
    const answer = await fetch(`${running.address}/events/v1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SDK_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [] }),
    });
    assert.equal(answer.status, 502);
    assert.match(
      ((await answer.json()) as { detail: string }).detail,
      /longer than the 65536 bytes accepted/,
    );
    await until(() => cut, 'the upstream answer cut');
    await stop(running);
  });
});
