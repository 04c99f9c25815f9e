/**
 * Keys with a raw "/" in an admin path. A flag or segment key holds "/" (`checkout/payments/x`), and the
 * routes take it as one encoded path segment (`/api/v1/flags/checkout%2Fpayments%2Fx`). Before routing, a
 * path that writes the key raw is rewritten to that form (Fastify's `rewriteUrl`), so the request goes
 * through the one route, its access rule, rate limit and metrics, exactly once.
 *
 * Reading: the key is the shortest prefix that is a valid key and leaves one of the method's route suffixes
 * (`/environments/staging`, `/archive`, …), else the whole rest. So `a/b/environments/x` is flag `a/b`'s
 * state in `x`; a key with a segment named like a suffix must be written encoded. A path that fits no
 * reading is left as it is, and its 404 says how to encode the key.
 */
import { names } from '@switchyard/core';

type Kind = 'flags' | 'segments';

/** The suffixes after a key that each kind's routes take, by method. */
const SUFFIXES: Record<Kind, Record<string, readonly RegExp[]>> = {
  flags: {
    GET: [/^\/environments\/[^/]+$/, /^\/environments\/[^/]+\/history$/, /^\/exposures$/],
    POST: [/^\/(archive|restore)$/, /^\/environments\/[^/]+\/[^/]+$/],
    PUT: [/^\/environments\/[^/]+$/],
  },
  segments: {
    PUT: [/^\/environments\/[^/]+$/],
  },
};
/** Methods whose route takes the key with no suffix. */
const WHOLE: Record<Kind, ReadonlySet<string>> = {
  flags: new Set(['GET', 'HEAD', 'PATCH', 'DELETE']),
  segments: new Set(['GET', 'HEAD', 'DELETE']),
};

const KEYED = /^\/api\/v1\/(flags|segments)\/([^?]*)(\?.*)?$/;

const isKey = (key: string) => names.FLAG_KEY.regex.test(key);

/** The URL the routes take for `url`: with a raw key encoded where one reading fits, else `url` itself. */
export function encodeRawKey(method: string, url: string): string {
  const match = KEYED.exec(url);
  if (match === null || !match[2]!.includes('/')) return url;
  const kind = match[1] as Kind;
  const rest = match[2]!;
  const query = match[3] ?? '';
  const encoded = (key: string, suffix: string) =>
    `/api/v1/${kind}/${encodeURIComponent(key)}${suffix}${query}`;
  const suffixes = SUFFIXES[kind][method] ?? [];
  for (let slash = rest.indexOf('/'); slash !== -1; slash = rest.indexOf('/', slash + 1)) {
    const key = rest.slice(0, slash);
    const suffix = rest.slice(slash);
    if (isKey(key) && suffixes.some((s) => s.test(suffix))) return encoded(key, suffix);
  }
  return WHOLE[kind].has(method) && isKey(rest) ? encoded(rest, '') : url;
}

/** What a 404 adds for a path under the keyed routes: how to write a key that holds "/". */
export function rawKeyHint(url: string): string {
  const match = KEYED.exec(url);
  if (match === null) return '';
  const what = match[1] === 'flags' ? 'flag' : 'segment';
  return `; a ${what} key holds "/": encode it as %2F in the path, e.g. /api/v1/${match[1]}/checkout%2Fpayments%2Fnew-card-form`;
}
