/**
 * MurmurHash3, x86 32-bit variant, seed 0 — the hash under every rollout (spec/README.md, "Bucketing").
 *
 * `murmur3` hashes bytes. `HashPrefix` + `murmur3Suffix` hash `prefix + suffix` in two steps: the
 * prefix's whole 4-byte blocks are mixed once, at compile time, and an evaluation mixes only the suffix,
 * encoding it to UTF-8 on the fly without allocating.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, tail: number, tailLength: number, length: number): number {
  if (tailLength > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash state of some bytes: their whole blocks mixed, up to three bytes pending. */
export interface HashPrefix {
  readonly h: number;
  readonly tail: number;
  readonly tailLength: number;
  readonly length: number;
}

function absorb(bytes: Uint8Array, seed: number): HashPrefix {
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h = mixBlock(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  let tail = 0;
  const tailLength = bytes.length & 3;
  for (let i = 0; i < tailLength; i++) tail |= bytes[blocks + i]! << (8 * i);
  return { h, tail, tailLength, length: bytes.length };
}

/** The unsigned 32-bit MurmurHash3 (x86) of `bytes` with `seed`. */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  const state = absorb(bytes, seed);
  return finish(state.h, state.tail, state.tailLength, state.length);
}

const encoder = new TextEncoder();

/** The state after the UTF-8 bytes of `prefix`, which `murmur3Suffix` continues. */
export function hashPrefix(prefix: string): HashPrefix {
  return absorb(encoder.encode(prefix), 0);
}

/**
 * The unsigned 32-bit MurmurHash3 of `utf8(prefix + suffix)`, given the prefix's state. Lone
 * surrogates encode as U+FFFD, as TextEncoder and Buffer do.
 */
export function murmur3Suffix(prefix: HashPrefix, suffix: string): number {
  let h = prefix.h;
  let k = prefix.tail;
  let n = prefix.tailLength; // bytes pending in k
  let length = prefix.length;
  const count = suffix.length;
  for (let i = 0; i < count; i++) {
    let c = suffix.charCodeAt(i);
    // perf: the common ASCII byte takes one branch and no encoder call.
    if (c < 0x80) {
      k |= c << (n << 3);
      if (++n === 4) {
        h = mixBlock(h, k);
        k = 0;
        n = 0;
      }
      length++;
      continue;
    }
    let bytes: number; // up to four UTF-8 bytes, first byte lowest
    let byteCount: number;
    if (c < 0x800) {
      bytes = 0xc0 | (c >> 6) | ((0x80 | (c & 0x3f)) << 8);
      byteCount = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < count ? suffix.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else {
          c = 0xfffd;
        }
      }
      if (c < 0x10000) {
        bytes = 0xe0 | (c >> 12) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
        byteCount = 3;
      } else {
        bytes =
          0xf0 |
          (c >> 18) |
          ((0x80 | ((c >> 12) & 0x3f)) << 8) |
          ((0x80 | ((c >> 6) & 0x3f)) << 16) |
          ((0x80 | (c & 0x3f)) << 24);
        byteCount = 4;
      }
    }
    for (let b = 0; b < byteCount; b++) {
      k |= ((bytes >>> (b << 3)) & 0xff) << (n << 3);
      if (++n === 4) {
        h = mixBlock(h, k);
        k = 0;
        n = 0;
      }
    }
    length += byteCount;
  }
  return finish(h, k, n, length);
}
