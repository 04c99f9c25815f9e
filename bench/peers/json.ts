/**
 * Helpers for the peers' serialized data. The scale benchmark serializes up to a million flag
 * definitions; building the JSON text one definition at a time keeps the untimed serialization from
 * holding a million definition objects and their text at once.
 */

/** `{"key":value,...}` for `count` entries. */
export function jsonObjectText(count: number, entry: (i: number) => readonly [string, unknown]): string {
  const parts = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const [key, value] = entry(i);
    parts[i] = `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return `{${parts.join(',')}}`;
}

/** `[item,...]` for `count` items. */
export function jsonArrayText(count: number, item: (i: number) => unknown): string {
  const parts = new Array<string>(count);
  for (let i = 0; i < count; i++) parts[i] = JSON.stringify(item(i));
  return `[${parts.join(',')}]`;
}

export function asText(serialized: string | Buffer): string {
  return typeof serialized === 'string' ? serialized : serialized.toString('utf8');
}
