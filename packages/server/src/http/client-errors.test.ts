/**
 * What the fuzz run found at the edge of HTTP: a request the parser cannot read gets a problem and a
 * closed connection (no body after a HEAD), and HEAD of the stream is answered instead of left hanging.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../app.js';
import { newToken } from '../governance/access.js';
import { bootstrap } from '../governance/bootstrap.js';
import { listenOnLoopback, temporaryStore, within } from '../testing.js';

let temp: ReturnType<typeof temporaryStore>;
let app: FastifyInstance;
let port: number;
let sdkKey: string;

before(async () => {
  temp = temporaryStore();
  await bootstrap(temp.store);
  const { value, record } = newToken('sdk', 'sdk-server', { environments: ['staging'] });
  await temp.store.tokens.create(record, { actor: 'test' });
  sdkKey = value;
  app = await buildServer({ store: temp.store, rateLimits: false });
  port = Number(new URL(await listenOnLoopback(app)).port);
});
after(async () => {
  await app.close();
  await temp.remove();
});

/** Sends raw bytes on a new connection and resolves with all the server sent until it closed. */
function exchange(bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.write(bytes);
  return within(
    new Promise<string>((resolve) => socket.once('close', () => resolve(text))),
    10_000,
    'the server closing the connection',
  );
}

describe('requests the HTTP parser refuses', () => {
  it('answers a malformed request line with a 400 problem and closes the connection', async () => {
    const answer = await exchange('GET no-slash HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(answer, /content-type: application\/problem\+json/i);
    assert.match(answer, /connection: close/i);
    assert.match(answer, /"status":400/);
  });

  it('sends no body after the status of a malformed HEAD request', async () => {
    const answer = await exchange('HEAD no-slash HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(answer, /content-length: 0\r\n/i);
    assert.ok(answer.endsWith('\r\n\r\n'), `bytes after the headers: ${JSON.stringify(answer)}`);
  });

  it('answers HEAD of the stream at once (404) instead of holding the connection', async () => {
    const answer = await exchange(
      `HEAD /sdk/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${sdkKey}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 404 /);
  });
});
