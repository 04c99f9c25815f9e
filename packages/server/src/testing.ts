/** What the server's tests share: a store in a temporary LMDB directory, and a server on a loopback port. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagStore, type FlagStoreOptions, LmdbAdapter } from '@switchyard/store';
import type { FastifyInstance } from 'fastify';

/** Listens on a free port of 127.0.0.1 and returns the server's base URL. */
export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the server has no port');
  return `http://127.0.0.1:${address.port}`;
}

/** A store in a new temporary directory; `remove` closes it and deletes the directory. */
export function temporaryStore(options: FlagStoreOptions = {}): {
  store: FlagStore;
  remove(): Promise<void>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-server-test-'));
  const store = new FlagStore(new LmdbAdapter({ path: dir }), options);
  return {
    store,
    async remove() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A response as tests read it: status, JSON body (or the text when it is not JSON), and headers. */
export interface Answer {
  status: number;
  /** The media type, without parameters. */
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON responses loosely
  body: any;
  text: string;
  headers: Headers;
}

/** Calls the API over real HTTP: `token` as a bearer token, `body` as JSON (or `raw` as it is). */
export async function callApi(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const hasBody = options.body !== undefined || options.raw !== undefined;
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  return { status: response.status, type, body, text, headers: response.headers };
}
