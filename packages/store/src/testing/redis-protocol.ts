// A minimal RESP client, so the harness does not depend on a Redis client library: one command per fresh
// connection, and parsers for the text replies the harness reads (INFO, CLUSTER INFO).
import { createConnection } from 'node:net';
import { REDIS_TEST_HOST } from './redis-ports.js';

/** A reply from Redis (RESP2): status and bulk strings as strings, integers, nil as null, arrays; an error
 * reply nested in an array is an Error. */
export type RedisReply = string | number | null | Error | RedisReply[];

/** An error reply from Redis (`-ERR ...`, `-LOADING ...`, `-MOVED ...`). */
export class RedisReplyError extends Error {
  override readonly name = 'RedisReplyError';
}

function encodeCommand(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(String(arg), 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `offset`; undefined if the buffer does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): { value: RedisReply; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new RedisReplyError(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number.parseInt(line, 10);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number.parseInt(line, 10);
      if (count < 0) return { value: null, next };
      const items: RedisReply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}

/** Options of `redisCommand`. */
export interface RedisCommandOptions {
  /** Defaults to 127.0.0.1. */
  readonly host?: string;
  /** Bound on connecting plus replying; default 5000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Sends one command to the server at `port` on a fresh connection and resolves with its reply. Rejects with
 * a `RedisReplyError` on an error reply, and with an Error when the connection fails (e.g. ECONNREFUSED),
 * closes early, or `timeoutMs` passes. No cluster redirection: it asks exactly that node.
 */
export function redisCommand(
  port: number,
  args: readonly (string | number)[],
  options: RedisCommandOptions = {},
): Promise<RedisReply> {
  const host = options.host ?? REDIS_TEST_HOST;
  const timeoutMs = options.timeoutMs ?? 5000;
  const what = `${host}:${port} ${String(args[0] ?? '')}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let buffer: Buffer = Buffer.alloc(0);
    const socket = createConnection({ host, port });
    const finish = (error: Error | undefined, value?: RedisReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`redis ${what}: no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      let parsed: ReturnType<typeof parseReply>;
      try {
        parsed = parseReply(buffer, 0);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (parsed === undefined) return;
      if (parsed.value instanceof RedisReplyError) finish(parsed.value);
      else finish(undefined, parsed.value);
    });
    socket.on('error', (error) => finish(new Error(`redis ${what}: ${error.message}`)));
    socket.on('close', () => finish(new Error(`redis ${what}: connection closed before a reply`)));
  });
}

/** `redisCommand` for commands whose reply is a string (INFO, CLUSTER INFO, CLUSTER NODES, GET of a set key). */
export async function redisText(
  port: number,
  args: readonly (string | number)[],
  options: RedisCommandOptions = {},
): Promise<string> {
  const reply = await redisCommand(port, args, options);
  if (typeof reply !== 'string') {
    throw new Error(
      `redis ${port} ${String(args[0] ?? '')}: expected a string reply, got ${JSON.stringify(reply)}`,
    );
  }
  return reply;
}

/** Parses `key:value` lines (INFO, CLUSTER INFO). */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}
