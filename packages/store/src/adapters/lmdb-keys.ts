/**
 * The keys of the LMDB adapter's records and counters: the UTF-8 bytes of the namespace, a 0 byte, and the
 * UTF-8 bytes of the path, stored as they are (lmdb-js's `binary` key encoding). LMDB compares keys byte by
 * byte, so within a namespace keys sort as the contract orders paths (UTF-8 byte order), and the 0 byte,
 * which no namespace holds, sorts a namespace's keys before those of any longer namespace it starts.
 *
 * Earlier builds used lmdb-js's string keys, "namespace \x01 path". lmdb-js encodes a string of fewer than
 * 64 characters with \x01 escaped as the bytes 04 01, and a longer one with a bare 01, so one namespace's
 * keys fell in two runs, and a range whose ends differed in length took in keys of the other run: paths
 * outside the range, read back as flags listed hundreds of times and counters as invalid hours.
 * `migrateKeys` rewrites such keys once, when a store is opened; `KEY_FORMAT` in the `meta` database
 * records that it was done.
 */
import type { Database } from 'lmdb';

/** The key format this build writes; stored under `keyFormat` in the `meta` database. */
export const KEY_FORMAT = 2;

const SEPARATOR = 0;
// No byte of UTF-8 text is 0xff: every key whose path starts with a prefix sorts before prefix + 0xff.
const PAST = Buffer.from([0xff]);

export const recordKey = (namespace: string, path: string): Buffer =>
  Buffer.from(`${namespace}\u0000${path}`, 'utf8');

/** The path of a key of `namespace` (whose bounds the caller checked). */
export const recordPath = (namespace: string, key: Buffer): string =>
  key.toString('utf8', Buffer.byteLength(namespace) + 1);

export interface KeyBounds {
  readonly start: Buffer;
  /** `start` itself is not in the range (it is the `after` of a cursor). */
  readonly exclusive: boolean;
  readonly end: Buffer;
  /** Whether a key the range read returned is within the bounds: `prefix` and after `after`. */
  holds(key: Buffer): boolean;
}

/**
 * The keys of `namespace` whose path starts with `prefix` and comes after `after` (if given), or
 * undefined when no path can be both.
 */
export function keyBounds(namespace: string, prefix: string, after?: string): KeyBounds | undefined {
  const first = recordKey(namespace, prefix);
  const end = Buffer.concat([first, PAST]);
  const cursor = after === undefined ? undefined : recordKey(namespace, after);
  const exclusive = cursor !== undefined && cursor.compare(first) >= 0;
  const start = exclusive ? cursor : first;
  if (start.compare(end) >= 0) return undefined;
  return {
    start,
    exclusive,
    end,
    holds: (key) =>
      key.length >= first.length &&
      key.compare(first, 0, first.length, 0, first.length) === 0 &&
      (exclusive ? key.compare(start) > 0 : true),
  };
}

// Rewritten a batch at a time, so that no more than this many entries are held in memory at once.
const BATCH = 10_000;

/**
 * Rewrites the keys of `db` written by earlier builds (see above) in the current format, keeping values
 * and versions. Call within a write transaction. A key already in the current format is left alone, so a
 * migration cut short is finished by the next one.
 */
export function migrateKeys(db: Database<unknown, Buffer>, versions: boolean): void {
  let start: Buffer | undefined;
  for (;;) {
    const batch: { key: Buffer; next: Buffer; value: unknown; version: number | undefined }[] = [];
    let last: Buffer | undefined;
    for (const entry of db.getRange({ ...(start === undefined ? {} : { start }), versions })) {
      last = entry.key;
      const next = currentKey(entry.key);
      if (next !== undefined)
        batch.push({ key: entry.key, next, value: entry.value, version: entry.version });
      if (batch.length >= BATCH) break;
    }
    for (const { key, next, value, version } of batch) {
      if (versions) db.putSync(next, value, version ?? 0);
      else db.putSync(next, value);
      db.removeSync(key);
    }
    if (batch.length < BATCH || last === undefined) return;
    // Keys rewritten sort before the old ones of their namespace, so the read goes on past them.
    start = last;
  }
}

/**
 * The current key for a key in the earlier format, or undefined if it is current already. An earlier key
 * is lmdb-js's encoding of "namespace \x01 path": the namespace (which holds no byte below 5), then 04 01
 * (in strings under 64 characters, which also escape other characters below 5 as 04 c) or a bare 01.
 */
function currentKey(key: Buffer): Buffer | undefined {
  const from = key[0] === 27 ? 1 : 0; // lmdb-js's mark of a string starting below character 28
  let i = from;
  while (i < key.length && key[i]! > 4) i++;
  if (i === key.length || key[i] === SEPARATOR) return undefined;
  const namespace = key.subarray(from, i);
  const escaped = key[i] === 4;
  const path: number[] = [];
  for (let j = escaped ? i + 2 : i + 1; j < key.length; j++) {
    if (escaped && key[j] === 4 && j + 1 < key.length) j++;
    path.push(key[j]!);
  }
  return Buffer.concat([namespace, Buffer.from([SEPARATOR]), Buffer.from(path)]);
}
