/**
 * How the relay stores a record line: sealed when sensitive (`LineSealer` of `@switchyard/sdk`), then a
 * trailer: a 0 byte (no record line holds one) and the CRC-32 of the line's place and stored bytes,
 * big-endian, as the store's records carry one. A changed byte, or a line moved to another place, fails
 * the check, so a damaged copy is found instead of served.
 */
import { crc32 } from 'node:zlib';
import type { LineSealer } from '@switchyard/sdk';

const TRAILER = 5;

export class DamagedLineError extends Error {
  override name = 'DamagedLineError';
}

export class StoredLines {
  constructor(private readonly sealer: LineSealer) {}

  /** The bytes to store for `line` at `place`. */
  encode(place: string, line: Buffer): Buffer {
    const payload = this.sealer.store(place, line);
    const out = Buffer.allocUnsafe(payload.length + TRAILER);
    payload.copy(out);
    out[payload.length] = 0;
    out.writeUInt32BE(checksum(place, payload), payload.length + 1);
    return out;
  }

  /** The line stored at `place`. Throws `DamagedLineError` when its bytes fail their check. */
  decode(place: string, stored: Buffer): string {
    return this.sealer.read(place, payloadOf(place, stored));
  }

  /** Checks the bytes stored at `place` without decoding them; throws `DamagedLineError` if they fail. */
  check(place: string, stored: Buffer): void {
    payloadOf(place, stored);
  }
}

/** The stored bytes without their trailer, once they pass its check. */
function payloadOf(place: string, stored: Buffer): Buffer {
  const end = stored.length - TRAILER;
  if (end < 0 || stored[end] !== 0) {
    throw new DamagedLineError(`the line at ${JSON.stringify(place)} has no trailer`);
  }
  const payload = stored.subarray(0, end);
  if (stored.readUInt32BE(end + 1) !== checksum(place, payload)) {
    throw new DamagedLineError(`the line at ${JSON.stringify(place)} fails its checksum: changed on disk`);
  }
  return payload;
}

function checksum(place: string, payload: Buffer): number {
  return crc32(payload, crc32(place));
}
