/**
 * Sensitive variation values, encrypted at rest. A flag marked `sensitive` has each variation value sealed
 * with AES-256-GCM in its stored identity, bound to the flag's key and the variation's name, and tagged with
 * the id of the key that sealed it, so keys can rotate: the keyring's first key seals, every key opens.
 * Ledger events carry "[sensitive]" in place of such values.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { FlagDocument } from '@switchyard/core';
import { InvalidOperationError, StoreError } from './errors.js';
import type { FlagMeta } from './records.js';

const SEALED = '$sealed';
/** What stands in place of a sensitive value wherever it is not shown: the ledger, and readers without the right. */
export const REDACTED = '[sensitive]';

export interface Keyring {
  /** The id of the key that seals. */
  readonly currentId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** A keyring from 32-byte keys, the first one sealing. A key's id is a hash of it, never the key. */
export function keyring(keys: readonly Buffer[]): Keyring {
  if (keys.length === 0) throw new Error('a keyring needs at least one key');
  const map = new Map<string, Buffer>();
  for (const key of keys) {
    if (key.length !== 32) throw new Error(`an encryption key has 32 bytes; this one has ${key.length}`);
    map.set(createHash('sha256').update(key).digest('hex').slice(0, 16), key);
  }
  return { currentId: [...map.keys()][0]!, keys: map };
}

/** A key given as 64 hex digits or base64 of 32 bytes. */
export function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32)
    throw new Error('an encryption key is 32 bytes, written as 64 hex digits or in base64');
  return key;
}

export class SealedValueError extends StoreError {
  override name = 'SealedValueError';
}

export type Sealed = { [SEALED]: string };

export const isSealed = (value: unknown): value is Sealed =>
  typeof value === 'object' && value !== null && typeof (value as Sealed)[SEALED] === 'string';

/**
 * Any JSON value sealed with the keyring's current key, bound to `aad` (where it is kept: opening it
 * under another `aad` fails). Idempotency records use it for the answers they keep.
 */
export function seal(value: unknown, aad: string, ring: Keyring): Sealed {
  const key = ring.keys.get(ring.currentId)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const parts = [
    ring.currentId,
    iv.toString('base64'),
    cipher.getAuthTag().toString('base64'),
    data.toString('base64'),
  ];
  return { [SEALED]: `v1:${parts.join(':')}` };
}

/** The value `seal` sealed under `aad`; a `SealedValueError` naming `where` when it cannot be opened. */
export function open(sealed: Sealed, aad: string, ring: Keyring | undefined, where: string): unknown {
  const [version, keyId, iv, tag, data] = sealed[SEALED].split(':');
  if (version !== 'v1' || !keyId || !iv || !tag || data === undefined) {
    throw new SealedValueError(`${where}: not a sealed value this Switchyard reads`);
  }
  const key = ring?.keys.get(keyId);
  if (key === undefined) {
    throw new SealedValueError(
      `${where} is encrypted with key ${keyId}, which this server was not given (SWITCHYARD_MASTER_KEY)`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    const text = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString(
      'utf8',
    );
    return JSON.parse(text);
  } catch {
    throw new SealedValueError(
      `${where}: the encrypted value does not decrypt (damaged, or moved from elsewhere)`,
    );
  }
}

/** The identity as stored: sensitive variation values sealed. Refuses a sensitive flag without a key. */
export function sealMeta(meta: FlagMeta, ring: Keyring | undefined): FlagMeta {
  if (meta.sensitive !== true) return meta;
  if (ring === undefined) {
    throw new InvalidOperationError(
      `flag "${meta.key}" is sensitive, and this server has no encryption key; set SWITCHYARD_MASTER_KEY`,
    );
  }
  const variations: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(meta.variations)) {
    variations[name] = seal(value, `${meta.key}\u0000${name}`, ring);
  }
  return { ...meta, variations };
}

/** The identity as read: sealed variation values opened. */
export function openMeta(meta: FlagMeta, ring: Keyring | undefined): FlagMeta {
  if (meta.sensitive !== true) return meta;
  const variations: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(meta.variations)) {
    variations[name] = isSealed(value)
      ? open(value, `${meta.key}\u0000${name}`, ring, `flag "${meta.key}" variation "${name}"`)
      : value;
  }
  return { ...meta, variations };
}

/** A document for the ledger: a sensitive flag's variation values replaced by "[sensitive]". */
export function redact<T extends Pick<FlagDocument, 'variations'> & { sensitive?: boolean | undefined }>(
  doc: T,
): T {
  if (doc.sensitive !== true) return doc;
  return {
    ...doc,
    variations: Object.fromEntries(Object.keys(doc.variations).map((name) => [name, REDACTED])),
  };
}
