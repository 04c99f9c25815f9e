// Redis Cluster hash slots, computed here as the servers do, so tests can tell which master owns a key.

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/**
 * The hash slot (0..16383) Redis Cluster puts `key` in, as CLUSTER KEYSLOT computes it: CRC16 of the key's
 * UTF-8 bytes mod 16384, or of its hash tag, the part between the first `{` and the first `}` after it, when
 * that part is non-empty (`{user1}.a` and `{user1}.b` share a slot).
 */
export function keySlot(key: string): number {
  let bytes: Uint8Array = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}
