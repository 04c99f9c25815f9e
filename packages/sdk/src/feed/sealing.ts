/**
 * Sensitive values sealed at rest, one implementation for every copy kept on disk: the relay's data file
 * and the SDK's cache file. A flag whose values are sensitive has its whole line sealed with AES-256-GCM
 * under a key derived (HKDF-SHA-256) from the SDK key the copy was fetched with, which is never written
 * to disk, and a random salt kept beside the lines: the file alone reveals none of them. A sealed line is
 * bound to its place (what the caller names it by), so it cannot be moved to another.
 *
 * Other lines stay as they came, so that serving them decodes nothing (they hold no secret the upstream
 * did not mark).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { FLAG_LINE, SENSITIVE_MARK as SENSITIVE_MARK_TEXT, TAB } from '@switchyard/core';

/** Core's marker of a sensitive flag line, as bytes: read here from the bytes a snapshot brings. */
const SENSITIVE_MARK = Buffer.from(SENSITIVE_MARK_TEXT);

/** The first byte of a sealed line: no record line starts with it. */
const SEALED = 0x00;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * What a key seals: each use has its own key from the same secret, and its own check. The relay's
 * labels are those its data files were written with; changing them would lock every relay out of its copy.
 */
const USES = {
  'relay-data': { info: 'switchyard relay data v1', check: 'switchyard relay key check' },
  'sdk-cache': { info: 'switchyard sdk cache v1', check: 'switchyard sdk cache key check' },
} as const;

export type SealingUse = keyof typeof USES;

/** Whether a record line marks its flag's values sensitive. */
export function isSensitiveLine(line: Buffer): boolean {
  if (line[0] !== FLAG_LINE) return false;
  const tab = line.indexOf(TAB);
  const start = tab + 1;
  return (
    tab !== -1 &&
    line.length >= start + SENSITIVE_MARK.length &&
    line.compare(SENSITIVE_MARK, 0, SENSITIVE_MARK.length, start, start + SENSITIVE_MARK.length) === 0
  );
}

/** A sealed line that does not open: sealed with another key, at another place, or changed since. */
export class SealedLineError extends Error {
  override name = 'SealedLineError';
}

/** Seals and opens sensitive lines with one key. */
export class LineSealer {
  private readonly key: Buffer;
  /** A value that tells whether a later key is the same one, and reveals nothing of it. */
  readonly check: string;

  /** The sealer of `secret` (an SDK key) with the file's `salt`, for `use`. */
  constructor(secret: string, salt: Buffer, use: SealingUse) {
    const labels = USES[use];
    this.key = Buffer.from(hkdfSync('sha256', secret, salt, labels.info, 32));
    this.check = createHmac('sha256', this.key).update(labels.check).digest('hex');
  }

  /** The line as stored at `place`: sealed when it is sensitive, else as it is. */
  store(place: string, line: Buffer): Buffer {
    if (!isSensitiveLine(line)) return line;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(place, 'utf8'));
    const data = Buffer.concat([cipher.update(line), cipher.final()]);
    return Buffer.concat([Buffer.of(SEALED), iv, cipher.getAuthTag(), data]);
  }

  /** The line stored at `place`, opened when sealed. Throws `SealedLineError` when it does not open. */
  read(place: string, stored: Buffer): string {
    if (stored[0] !== SEALED) return stored.toString('utf8');
    const iv = stored.subarray(1, 1 + IV_BYTES);
    const tag = stored.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(Buffer.from(place, 'utf8'));
      decipher.setAuthTag(tag);
      const data = stored.subarray(1 + IV_BYTES + TAG_BYTES);
      return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedLineError(`a sealed line at ${JSON.stringify(place)} does not open (damaged?)`);
    }
  }
}
