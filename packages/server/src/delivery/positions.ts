/**
 * Position vectors and namespace selectors of the delivery protocol (spec/protocol.md): where a client
 * stands per namespace (`ns:seq,ns:seq`), and which namespaces a request selects (namespaces or prefixes).
 */
import { names, namespaceCovered } from '@switchyard/core';
import { HttpProblem } from '../problems.js';

export type Positions = Map<string, number>;

const NAMESPACE = names.NAMESPACE.regex;
const MAX_SELECTORS = 1000;

export function encodePositions(positions: Iterable<readonly [string, number]>): string {
  const parts: string[] = [];
  for (const [namespace, seq] of positions) parts.push(`${namespace}:${seq}`);
  return parts.join(',');
}

/** Reads a position vector; a malformed one is a 400 naming `where` and the bad part. */
export function decodePositions(text: string, where: string): Positions {
  const positions: Positions = new Map();
  if (text.trim() === '') return positions;
  for (const part of text.split(',')) {
    const colon = part.lastIndexOf(':');
    const namespace = part.slice(0, colon);
    const seq = Number(part.slice(colon + 1));
    if (colon <= 0 || !NAMESPACE.test(namespace) || !Number.isSafeInteger(seq) || seq < 0) {
      throw new HttpProblem(
        400,
        'Bad Request',
        `${where}: "${part.slice(0, 100)}" is not "namespace:sequence" (a position vector is "ns:seq,ns:seq")`,
      );
    }
    positions.set(namespace, seq);
  }
  return positions;
}

/** A namespace, or a prefix that also selects the namespaces under it. */
export function parseSelectors(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  const selectors = [...new Set(text.split(',').map((s) => s.trim()))].sort();
  if (selectors.length > MAX_SELECTORS) {
    throw new HttpProblem(400, 'Bad Request', `namespaces: at most ${MAX_SELECTORS} selectors`);
  }
  for (const selector of selectors) {
    if (!/^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/.test(selector)) {
      throw new HttpProblem(
        400,
        'Bad Request',
        `namespaces: "${selector.slice(0, 100)}" is not a namespace or namespace prefix (lowercase segments joined by "/")`,
      );
    }
  }
  return selectors;
}

/** Whether `namespace` is `selector` or under it. */
export function selects(selector: string, namespace: string): boolean {
  return namespaceCovered([selector], namespace);
}

/** Whether the selectors (none: all) select `namespace`: scope matching, as for a token's scopes. */
export const selectedBy = namespaceCovered;
