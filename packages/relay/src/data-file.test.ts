/**
 * The relay's data file, on real LMDB files: sensitive values never sit in it in plaintext, and a file
 * that cannot be read (truncated, zeroed, garbage, sealed with another key) is moved aside with one log
 * line while the relay rebuilds its copy from the upstream, instead of crashing.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { open } from 'lmdb';
import { type RunningRelay, startRelay } from './relay.js';
import { type FakeUpstream, fakeUpstream, flagLine, patchEvent, snapshotBody, until } from './testing.js';

const RELAY_KEY = 'sy_0123456789abcdef_relay-key-secret-part-aaaaaaaaaaaaaaaaaaaaaaa';
const ROTATED_KEY = 'sy_fedcba9876543210_relay-key-secret-part-bbbbbbbbbbbbbbbbbbbbbbb';
const production = (id: string) => ({
  id,
  name: id,
  role: 'sdk-server',
  environments: ['production'],
  namespaces: [],
});

const SECRET = 'plaintext-secret-4242';
const PATCHED_SECRET = 'patched-secret-5151';
const VISIBLE = 'visible-value-17';

let dir: string;
let upstream: FakeUpstream;
const relays: RunningRelay[] = [];

async function relay(name: string, options: { sdkKey?: string; log?: string[] } = {}): Promise<RunningRelay> {
  const log = options.log;
  const running = await startRelay(
    {
      upstream: upstream.url,
      sdkKey: options.sdkKey ?? RELAY_KEY,
      region: name,
      data: join(dir, name),
      port: 0,
      host: '127.0.0.1',
      heartbeatMs: 100,
      logLevel: log === undefined ? false : 'warn',
      ...(log === undefined ? {} : { logStream: { write: (line: string) => void log.push(line) } }),
      feed: { initialRetryMs: 20, maxRetryMs: 100, readTimeoutMs: 2000, requestTimeoutMs: 2000 },
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

async function served(running: RunningRelay, sdkKey = RELAY_KEY): Promise<string> {
  const response = await fetch(`${running.address}/sdk/v1/snapshot`, {
    headers: { authorization: `Bearer ${sdkKey}` },
  });
  return response.status === 200 ? response.text() : `${response.status}`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-data-'));
  upstream = await fakeUpstream({ [RELAY_KEY]: production('relay'), [ROTATED_KEY]: production('rotated') });
  upstream.snapshot = snapshotBody('production', { 'team/one': 1 }, [
    flagLine('team/one/secret', { on: SECRET, off: 'off' }, { sensitive: true }),
    flagLine('team/one/plain', { on: VISIBLE, off: 'off' }),
  ]);
});

after(async () => {
  for (const running of relays) await running.close().catch(() => {});
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the relay’s data file', () => {
  it('keeps sensitive values sealed at rest, and serves them to its SDKs, from disk too', async () => {
    upstream.handlers = { ...upstream.healthy };
    const running = await relay('sealed');
    await until(async () => (await served(running)).includes(SECRET), 'the snapshot is served');
    await until(() => upstream.streams.size > 0, 'the relay streams');
    for (const stream of upstream.streams) {
      stream.write(
        patchEvent('team/one', 2, [
          flagLine('team/one/secret-2', { on: PATCHED_SECRET, off: 'off' }, { sensitive: true }),
        ]),
      );
    }
    await until(async () => (await served(running)).includes(PATCHED_SECRET), 'the patch is served');
    await stop(running);

    const bytes = readFileSync(join(dir, 'sealed', 'data.mdb'));
    assert.ok(bytes.includes(VISIBLE), 'values not marked sensitive are stored as they came');
    assert.equal(bytes.includes(SECRET), false, 'a sensitive value from a snapshot is sealed');
    assert.equal(bytes.includes(PATCHED_SECRET), false, 'a sensitive value from a patch is sealed');

    // With the upstream gone, the relay opens what it sealed with the key it is given.
    upstream.handlers = {};
    const fromDisk = await relay('sealed');
    const body = await served(fromDisk);
    assert.ok(body.includes(SECRET) && body.includes(PATCHED_SECRET), body);
    await stop(fromDisk);
  });

  /** How a data file is damaged, and what the relay's log line says of it. */
  const corruptions: [string, (file: string) => void | Promise<void>, RegExp][] = [
    [
      'truncated',
      (file) => truncateSync(file, Math.floor(statSync(file).size / 2)),
      /reading it kills the process/,
    ],
    [
      'zeroed',
      (file) => writeFileSync(file, Buffer.alloc(statSync(file).size)),
      /reading it kills the process|reading it fails/,
    ],
    [
      'full of garbage',
      (file) => {
        const garbage = Buffer.alloc(statSync(file).size);
        for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
        writeFileSync(file, garbage);
      },
      /reading it kills the process|reading it fails/,
    ],
    [
      'with a byte changed in a line',
      (file) => {
        // Every copy LMDB holds of the line, in live pages or free ones.
        const bytes = readFileSync(file);
        for (let at = bytes.indexOf(VISIBLE); at !== -1; at = bytes.indexOf(VISIBLE, at + 1))
          bytes[at] = 0x56; // 'V'
        writeFileSync(file, bytes);
      },
      /fails its checksum: changed on disk/,
    ],
    [
      'holding positions that do not decode',
      async (file) => {
        // LMDB reads it fine; what the relay stored in it does not decode.
        const root = open({ path: dirname(file), maxDbs: 8 });
        root.openDB({ name: 'positions', encoding: 'binary' }).putSync('team/one', Buffer.of(0xc1, 0xff));
        await root.close();
      },
      /its records do not read back/,
    ],
  ];
  for (const [what, corrupt, reason] of corruptions) {
    it(`moves aside a data file ${what}, logs one line, and rebuilds its copy from the upstream`, async () => {
      upstream.handlers = { ...upstream.healthy };
      const name = `corrupt-${corruptions.findIndex(([label]) => label === what)}`;
      const first = await relay(name);
      await until(async () => (await served(first)).includes(VISIBLE), 'the first copy');
      await stop(first);
      await corrupt(join(dir, name, 'data.mdb'));

      const log: string[] = [];
      const running = await relay(name, { log });
      await until(async () => (await served(running)).includes(VISIBLE), 'the rebuilt copy');
      assert.equal(
        (await served(running)).includes(`V${VISIBLE.slice(1)}`),
        false,
        'no damaged line is served',
      );
      const lines = log.filter((line) => line.includes('cannot be used'));
      assert.equal(lines.length, 1, log.join(''));
      assert.match(lines[0]!, /the data file .*data\.mdb cannot be used \(.+\); moved it to .*, rebuilding/);
      assert.match(lines[0]!, reason);
      assert.equal(JSON.parse(lines[0]!).level, 50, 'logged as an error');
      const aside = readdirSync(join(dir, name)).filter((file) => file.startsWith('data.mdb.unreadable-'));
      assert.equal(aside.length, 1);
      await stop(running);
    });
  }

  it('moves aside a copy sealed with another upstream key, and rebuilds it', async () => {
    upstream.handlers = { ...upstream.healthy };
    const first = await relay('rotated');
    await until(async () => (await served(first)).includes(SECRET), 'the first copy');
    await stop(first);

    const log: string[] = [];
    const running = await relay('rotated', { sdkKey: ROTATED_KEY, log });
    assert.match(
      log.join(''),
      /cannot be used \(its sensitive values are sealed with another upstream key\)/,
    );
    await until(async () => (await served(running, ROTATED_KEY)).includes(SECRET), 'the rebuilt copy');
    assert.ok(existsSync(join(dir, 'rotated', 'data.mdb')));
    await stop(running);
  });

  it('keeps a copy sealed with another key when the upstream cannot confirm the new one', async () => {
    upstream.handlers = { ...upstream.healthy };
    const first = await relay('unconfirmed');
    await until(async () => (await served(first)).includes(SECRET), 'the first copy');
    await stop(first);

    upstream.handlers = {};
    await assert.rejects(
      relay('unconfirmed', { sdkKey: ROTATED_KEY }),
      /sealed with another --sdk-key, and the upstream cannot confirm this one/,
    );
    assert.deepEqual(
      readdirSync(join(dir, 'unconfirmed')).filter((file) => file.startsWith('data.mdb')),
      ['data.mdb'],
      'nothing was moved aside',
    );
  });

  it('takes over a copy an older relay wrote: its lines get checksums, its sensitive ones are sealed', async () => {
    const path = join(dir, 'older');
    const older = open({ path, maxDbs: 8 });
    const lines = older.openDB({ name: 'lines', encoding: 'binary' });
    for (const line of [
      flagLine('team/one/secret', { on: SECRET, off: 'off' }, { sensitive: true }),
      flagLine('team/one/plain', { on: VISIBLE, off: 'off' }),
    ]) {
      lines.putSync(`team/one\u0000${line.slice(0, line.indexOf('\t'))}`, Buffer.from(line));
    }
    older.openDB({ name: 'positions' }).putSync('team/one', { seq: 1, committedAt: 1000 });
    older.openDB({ name: 'meta' }).putSync('environment', 'production');
    await older.close();

    // The upstream knows the key, but sends no data: what is served comes from the older copy.
    upstream.handlers = { '/sdk/v1/whoami': upstream.healthy['/sdk/v1/whoami']! };
    const running = await relay('older');
    const body = await served(running);
    assert.ok(body.includes(SECRET) && body.includes(VISIBLE), body);
    await stop(running);

    const reopened = open({ path, maxDbs: 8 });
    const stored = [...reopened.openDB({ name: 'lines', encoding: 'binary' }).getRange()];
    await reopened.close();
    assert.equal(stored.length, 2);
    for (const { value } of stored) assert.equal((value as Buffer).includes(SECRET), false);
  });
});
