/** What the server's tests share: a store in a temporary LMDB directory, and a server on a loopback port. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
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

/** A store in a new temporary directory (`dir`); `remove` closes it and deletes the directory. */
export function temporaryStore(options: FlagStoreOptions = {}): {
  store: FlagStore;
  dir: string;
  remove(): Promise<void>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-server-test-'));
  const store = new FlagStore(new LmdbAdapter({ path: dir }), options);
  return {
    store,
    dir,
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

/** Rejects with `what` unless `promise` settles within `ms`: a bound on a wait, never a delay. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** What the server answered to a request whose body was still arriving (see `answerBeforeBody`). */
export interface EarlyAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON responses loosely
  body: any;
  /** The `Connection` header of the answer. */
  connection: string | undefined;
  /** Body bytes the client had written when the answer came. */
  sentBytes: number;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
}

/**
 * Sends a request that declares `declaredBytes` of JSON body but writes only its first `sentBytes`
 * (spaces), and resolves with the answer the server gives before the rest, within `timeoutMs`.
 */
export function answerBeforeBody(
  base: string,
  method: string,
  path: string,
  options: { declaredBytes: number; sentBytes: number; headers?: Record<string, string>; timeoutMs?: number },
): Promise<EarlyAnswer> {
  const answer = new Promise<EarlyAnswer>((resolve, reject) => {
    const request = httpRequest(`${base}${path}`, {
      method,
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': String(options.declaredBytes),
        ...options.headers,
      },
    });
    const closed = new Promise<void>((resolveClosed) => {
      request.on('socket', (socket) => socket.once('close', () => resolveClosed()));
    });
    request.on('error', (error) => reject(error));
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        const connection = response.headers.connection;
        resolve({ status: response.statusCode ?? 0, body, connection, sentBytes: options.sentBytes, closed });
      });
    });
    request.write(Buffer.alloc(options.sentBytes, 0x20));
  });
  return within(answer, options.timeoutMs ?? 10_000, `${method} ${path}`);
}

/** A raw TCP connection to the server, for tests of what happens below HTTP (timeouts, caps). */
export async function rawConnection(base: string): Promise<{
  socket: Socket;
  closed: Promise<void>;
  /** Sends one `GET path` on this connection and resolves with the status line of its answer. */
  get(path: string): Promise<string>;
}> {
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  // Flowing, so that the server's closing is seen even when nothing reads what it sent.
  socket.resume();
  await within(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 5000, 'connecting');
  return {
    socket,
    closed,
    get(path: string) {
      const answered = new Promise<string>((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) {
            socket.off('data', onData);
            resolve(text.slice(0, text.indexOf('\r\n')));
          }
        };
        socket.on('data', onData);
        socket.once('close', () => reject(new Error(`the connection closed before answering GET ${path}`)));
      });
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      return within(answered, 5000, `GET ${path}`);
    },
  };
}

/**
 * Changes one byte of every copy of `needle` in the LMDB file of `dir` (a record and its ledger event),
 * keeping the JSON valid: damage only a checksum can tell. The store must be closed.
 */
export function damageOnDisk(dir: string, needle: string): void {
  const file = join(dir, 'data.mdb');
  const bytes = readFileSync(file);
  const found = Buffer.from(needle);
  for (let at = bytes.indexOf(found); at !== -1; at = bytes.indexOf(found, at + 1)) bytes[at] = 0x4e; // 'N'
  writeFileSync(file, bytes);
}
