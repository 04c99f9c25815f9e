/**
 * What the SDK's tests share: a real Switchyard server on LMDB in a temporary directory, listening on a
 * loopback port, with an admin token, and calls to its REST API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrap, buildServer } from '@switchyard/server';
import { FlagStore, type Keyring, LmdbAdapter } from '@switchyard/store';

export interface TestServer {
  url: string;
  adminToken: string;
  app: Awaited<ReturnType<typeof buildServer>>;
  /** Calls the REST API as admin; throws on a status other than 2xx. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<unknown>;
  /** A new `sdk-server` key of `environment`. */
  sdkKey(environment: string, namespaces?: string[]): Promise<string>;
  /** Stops listening; the data stays until `remove`. */
  stop(): Promise<void>;
  /** Stops and deletes the data. */
  remove(): Promise<void>;
}

export const flagPath = (key: string) => `/api/v1/flags/${encodeURIComponent(key)}`;

/** A boolean flag, on in `development` (serving `on`) unless `state` says otherwise. */
export function booleanFlag(key: string, state: Record<string, unknown> = {}) {
  return {
    key,
    type: 'boolean',
    variations: { on: true, off: false },
    environments: { development: { enabled: true, offVariation: 'off', default: 'on', ...state } },
  };
}

/** `shop/cart/banner`: a string flag serving "Sale today" to `@example.com` emails in `development`. */
export const bannerFlag = {
  key: 'shop/cart/banner',
  type: 'string',
  variations: { plain: 'Welcome', sale: 'Sale today' },
  environments: {
    development: {
      enabled: true,
      offVariation: 'plain',
      rules: [
        {
          id: 'staff',
          when: [{ attribute: 'email', op: 'endsWith', values: ['@example.com'] }],
          serve: 'sale',
        },
      ],
      default: 'plain',
    },
  },
};

/** `encryptionKeys`: the keys of sensitive values, without which the server refuses sensitive flags. */
export async function startServer(
  options: { heartbeatMs?: number; encryptionKeys?: Keyring } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sdk-test-'));
  const store = new FlagStore(
    new LmdbAdapter({ path: dir }),
    options.encryptionKeys === undefined ? {} : { encryptionKeys: options.encryptionKeys },
  );
  const { adminToken } = await bootstrap(store);
  const app = await buildServer({
    store,
    rateLimits: false,
    delivery: { heartbeatMs: options.heartbeatMs ?? 15_000 },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the server has no port');
  const url = `http://127.0.0.1:${address.port}`;
  let stopped = false;

  async function api(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        'x-change-reason': 'sdk test',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  }

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
  };
  return {
    url,
    adminToken: adminToken!,
    app,
    api,
    async sdkKey(environment, namespaces) {
      const created = (await api('POST', '/api/v1/tokens', {
        name: `sdk-${environment}`,
        role: 'sdk-server',
        environments: [environment],
        ...(namespaces === undefined ? {} : { namespaces }),
      })) as { token: string };
      return created.token;
    },
    stop,
    async remove() {
      await stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves when `check` returns true, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'the condition',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface FaultyProxy {
  url: string;
  /** Answer 503 to requests whose path starts with one of these, instead of forwarding them. */
  refuse: string[];
  /** Drops every open connection, as a network failure would. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A forwarding proxy in front of a real server, to make the network fail: refused paths and cut
 * connections. It forwards bytes as they come, so streams stay streams.
 */
export async function startProxy(target: string): Promise<FaultyProxy> {
  const sockets = new Set<Socket>();
  const proxy: FaultyProxy = {
    url: '',
    refuse: [],
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    if (proxy.refuse.some((prefix) => path.startsWith(prefix))) {
      response.writeHead(503, { 'retry-after': '0' }).end();
      return;
    }
    const forwarded = httpRequest(
      `${target}${path}`,
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.destroy());
    response.on('close', () => forwarded.destroy());
    request.pipe(forwarded);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${address.port}`;
  return proxy;
}
