/**
 * The JSON body parser of every route: a body is UTF-8 (invalid bytes are refused, not replaced), nests
 * at most `maxDepth` arrays and objects (checked on the bytes, before `JSON.parse` spends time on it),
 * holds no lone UTF-16 surrogate (`"\ud800"`) in any key or string, and no `__proto__` key or
 * `constructor.prototype` (which could reach an object's prototype when merged). Anything else is a 400.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../problems.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Refuses bytes nesting deeper than `maxDepth`, without parsing them. */
function checkDepth(bytes: Uint8Array, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) {
        throw badRequest(`the JSON body nests deeper than ${maxDepth} arrays and objects`);
      }
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    }
  }
}

function checkString(text: string, where: string): void {
  if (LONE_SURROGATE.test(text)) {
    throw badRequest(`${where} holds a lone UTF-16 surrogate (an unpaired "\\uD800"-"\\uDFFF" escape)`);
  }
}

/** Walks the parsed value (its depth is already bounded) for strings and keys it may not hold. */
function checkValue(value: unknown, path: string): void {
  if (typeof value === 'string') {
    checkString(value, `the string at ${path}`);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkValue(value[i], `${path}[${i}]`);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      checkString(key, `a key in ${path}`);
      if (key === '__proto__') throw badRequest(`${path} has a "__proto__" key, which is not accepted`);
      if (key === 'constructor' && typeof item === 'object' && item !== null && 'prototype' in item) {
        throw badRequest(`${path}.constructor has a "prototype" key, which is not accepted`);
      }
      checkValue(item, `${path}.${key}`);
    }
  }
}

/** Parses a JSON request body under the rules above; every refusal is a `400` problem. */
export function parseJsonBody(bytes: Uint8Array, maxDepth: number): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw badRequest('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw badRequest('the body is empty; send a JSON value');
  checkDepth(bytes, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${(error as Error).message}`);
  }
  checkValue(value, 'body');
  return value;
}

/** Installs the parser for `application/json` (with any parameters) on the app, in place of Fastify's. */
export function useJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer, maxDepth));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
