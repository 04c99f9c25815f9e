/**
 * The cache file's sealing: the snapshot format, with the lines of flags whose values are sensitive
 * sealed (`LineSealer`) under a key derived from the client's SDK key, which is never written, and a
 * random salt. The header carries `"sealing":{"salt":…,"check":…}`; a sealed line is
 * `!F <key>\t<base64 of the sealed bytes>`, bound to its place `F <key>`. No record line starts with `!`,
 * so a reader of the plain snapshot format skips sealed lines rather than misreading them.
 *
 * A file whose header has no `sealing` is of the older format, all in plaintext, and reads as it is.
 */
import { randomBytes } from 'node:crypto';
import { lineIdentity, readHeader, SENSITIVE_MARK, TAB } from '@switchyard/core';
import { isSensitiveLine, LineSealer } from '../feed/sealing.js';

const NEWLINE = 0x0a;
const SALT_BYTES = 16;
/** A tab then the mark: a raw tab is only ever the separator of a line's key and its JSON. */
const TAB_MARK = Buffer.from(`\t${SENSITIVE_MARK}`, 'utf8');
/** A newline then the first byte of a sealed line. */
const SEALED_START = Buffer.from('\n!', 'utf8');
/** The first byte of what `LineSealer.store` seals. */
const SEALED_BYTE = 0x00;

/** What the header says of the file's sealing. */
export interface CacheSealingFields {
  readonly salt: string;
  readonly check: string;
}

/** The file was sealed under another SDK key than the client's. */
export class CacheKeyError extends Error {
  override name = 'CacheKeyError';
}

/** The file's sealing does not read back: a sealed line that does not open, or a header without its salt. */
export class DamagedCacheError extends Error {
  override name = 'DamagedCacheError';
}

/** Seals what one client writes, with one salt, and opens what any client of the same SDK key wrote. */
export class CacheSealing {
  private readonly sealer: LineSealer;
  /** The header's `sealing` field of what this client writes. */
  readonly fields: CacheSealingFields;

  constructor(private readonly secret: string) {
    const salt = randomBytes(SALT_BYTES);
    this.sealer = new LineSealer(secret, salt, 'sdk-cache');
    this.fields = { salt: salt.toString('base64'), check: this.sealer.check };
  }

  /**
   * `bytes` (whole lines of the snapshot format) with each sensitive flag line sealed; the same buffer
   * when it holds none.
   */
  seal(bytes: Buffer): Buffer {
    const out: Buffer[] = [];
    let from = 0;
    // perf: a native search for the mark, not a look at every line; the rest of the file is not copied.
    for (let at = bytes.indexOf(TAB_MARK); at !== -1; at = bytes.indexOf(TAB_MARK, at + 1)) {
      const start = bytes.lastIndexOf(NEWLINE, at) + 1;
      let end = bytes.indexOf(NEWLINE, at);
      if (end === -1) end = bytes.length;
      const line = bytes.subarray(start, end);
      if (!isSensitiveLine(line)) continue;
      const place = bytes.toString('utf8', start, at);
      const sealed = this.sealer.store(place, line).toString('base64');
      out.push(bytes.subarray(from, start), Buffer.from(`!${place}\t${sealed}`, 'utf8'));
      from = end;
    }
    if (out.length === 0) return bytes;
    out.push(bytes.subarray(from));
    return Buffer.concat(out);
  }

  /**
   * The snapshot in a cache file's `bytes`, its sealed lines opened. Throws `CacheKeyError` when it was
   * sealed under another key, `DamagedCacheError` when its sealing does not read back, and core's
   * `SnapshotFormatError` when it is no snapshot.
   */
  open(bytes: Buffer): Buffer {
    const { header, bodyStart } = readHeader(bytes);
    const fields = header.sealing;
    const first = bytes.indexOf(SEALED_START, bodyStart - 1);
    if (fields === undefined) {
      if (first !== -1) throw new DamagedCacheError('sealed lines, and no sealing in its header');
      return bytes;
    }
    if (!isSealingFields(fields)) throw new DamagedCacheError('no valid sealing in its header');
    const salt = Buffer.from(fields.salt, 'base64');
    if (salt.length !== SALT_BYTES) throw new DamagedCacheError('no valid sealing salt in its header');
    const sealer = new LineSealer(this.secret, salt, 'sdk-cache');
    if (sealer.check !== fields.check) throw new CacheKeyError('written under another SDK key');

    const out: Buffer[] = [];
    let from = 0;
    for (let at = first; at !== -1; at = bytes.indexOf(SEALED_START, at + 1)) {
      const start = at + 1;
      let end = bytes.indexOf(NEWLINE, start);
      if (end === -1) end = bytes.length;
      const tab = bytes.indexOf(TAB, start);
      if (tab === -1 || tab > end) throw new DamagedCacheError('a sealed line has no place');
      const place = bytes.toString('utf8', start + 1, tab);
      const stored = Buffer.from(bytes.toString('latin1', tab + 1, end), 'base64');
      if (stored[0] !== SEALED_BYTE) throw new DamagedCacheError(`the line of ${place} is not sealed`);
      let line: string;
      try {
        line = sealer.read(place, stored);
      } catch (error) {
        throw new DamagedCacheError(`the sealed line of ${place} does not open (changed since written?)`, {
          cause: error,
        });
      }
      if (lineIdentity(line) !== place)
        throw new DamagedCacheError(`the sealed line of ${place} is another's`);
      out.push(bytes.subarray(from, start), Buffer.from(line, 'utf8'));
      from = end;
    }
    if (out.length === 0) return bytes;
    out.push(bytes.subarray(from));
    return Buffer.concat(out);
  }
}

function isSealingFields(value: unknown): value is CacheSealingFields {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as CacheSealingFields).salt === 'string' &&
    typeof (value as CacheSealingFields).check === 'string'
  );
}
