/**
 * Test helpers of the relay: an upstream that is a real node:http server answering as the tests say (as a
 * healthy server would, or not at all like one), record lines, and a bounded wait.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** A flag line as the server sends it; `fields` go first in its JSON (`{ sensitive: true }`, say). */
export const flagLine = (key: string, variations: Record<string, unknown>, fields: object = {}) =>
  `F ${key}\t${JSON.stringify({
    ...fields,
    type: 'string',
    variations,
    state: {
      enabled: true,
      offVariation: Object.keys(variations).at(-1),
      default: Object.keys(variations)[0],
      version: 1,
    },
  })}`;

export const snapshotBody = (environment: string, positions: Record<string, number>, lines: string[]) =>
  `#switchyard-snapshot 1 ${JSON.stringify({ environment, namespaces: positions, complete: true })}\n${lines.map((l) => `${l}\n`).join('')}`;

export const patchEvent = (namespace: string, seq: number, lines: string[]) =>
  `event: patch\ndata: ${JSON.stringify({ namespace, seq, time: new Date().toISOString(), committedAt: Date.now() })}\n${lines.map((l) => `data: ${l}\n`).join('')}\n`;

export interface KeyDescription {
  id: string;
  name: string;
  role: string;
  environments: string[];
  namespaces: string[];
}

export interface FakeUpstream {
  url: string;
  /** What each path answers; tests replace entries as they go. */
  handlers: Record<string, Handler>;
  /** Handlers that answer as a healthy server: whoami of `keys`, `snapshot()`, a stream of heartbeats. */
  readonly healthy: Record<string, Handler>;
  /** The body `GET /sdk/v1/snapshot` answers in the healthy handlers. */
  snapshot: string;
  /** Open streams of the healthy handlers: a test may write patches to them. */
  readonly streams: Set<ServerResponse>;
  close(): Promise<void>;
}

/** Starts an upstream; whoami answers `keys` (by `Bearer …` value), 401 for others. */
export async function fakeUpstream(keys: Record<string, KeyDescription>): Promise<FakeUpstream> {
  const streams = new Set<ServerResponse>();
  const healthy: Record<string, Handler> = {
    '/sdk/v1/whoami': (request, response) => {
      const who = keys[(request.headers.authorization ?? '').replace(/^Bearer /, '')];
      if (who === undefined) response.writeHead(401).end();
      else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(who));
    },
    '/sdk/v1/snapshot': (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.switchyard.snapshot' });
      response.end(upstream.snapshot);
    },
    '/sdk/v1/stream': (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(`event: heartbeat\ndata: ${JSON.stringify({ time: new Date().toISOString() })}\n\n`);
      streams.add(response);
      response.on('close', () => streams.delete(response));
    },
  };
  const server = createServer((request, response) => {
    const handler = upstream.handlers[(request.url ?? '').split('?')[0]!];
    if (handler === undefined) response.writeHead(404).end();
    else handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstream: FakeUpstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handlers: { ...healthy },
    healthy,
    snapshot: '',
    streams,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return upstream;
}

export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
