import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import murmurReference from 'murmurhash3js-revisited';
import { BUCKETS, bucket } from './bucket.js';
import { hashPrefix, murmur3, murmur3Suffix } from './murmur3.js';

const reference = (text: string) => murmurReference.x86.hash32(Buffer.from(text, 'utf8'), 0);

describe('murmur3', () => {
  it('matches an independent implementation on the published empty-input values', () => {
    assert.equal(murmur3(new Uint8Array(0), 0), 0);
    assert.equal(murmur3(new Uint8Array(0), 1), 0x514e28b7);
    assert.equal(murmur3(Buffer.from('hello')), reference('hello'));
  });

  it('hashes prefix + suffix identically to hashing the whole UTF-8 string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (prefix, suffix) => {
        const whole = reference(prefix + suffix);
        assert.equal(murmur3Suffix(hashPrefix(prefix), suffix), whole);
        assert.equal(murmur3(Buffer.from(prefix + suffix, 'utf8')), whole);
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes lone surrogates as U+FFFD, as Buffer does', () => {
    for (const text of ['\ud800', 'a\udc00b', '\ud83d', 'x\ud83d\ude00\ud800']) {
      assert.equal(murmur3Suffix(hashPrefix('salt:'), text), reference(`salt:${text}`));
    }
  });
});

describe('bucket', () => {
  it('stays within 0..99999 and is deterministic', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (salt, value) => {
        const b = bucket(salt, value);
        assert.ok(Number.isInteger(b) && b >= 0 && b < BUCKETS);
        assert.equal(bucket(salt, value), b);
      }),
    );
  });

  it('spreads users evenly: each exposure level lands within half a point over 100,000 users', () => {
    const users = Array.from({ length: 100_000 }, (_, i) => `user-${i}-${(i * 2654435761) >>> 0}`);
    for (const percent of [0.1, 1, 5, 25, 50, 99]) {
      const threshold = percent * 1000;
      const exposed = users.filter((u) => bucket('flag/exposure/check', u) < threshold).length;
      const share = (exposed / users.length) * 100;
      assert.ok(Math.abs(share - percent) <= 0.5, `${percent}% exposure measured ${share.toFixed(3)}%`);
    }
  });

  it('buckets independently under different salts', () => {
    const users = Array.from({ length: 100_000 }, (_, i) => `u${i}`);
    let both = 0;
    let first = 0;
    let second = 0;
    for (const u of users) {
      const a = bucket('ns/a/flag-one', u) < 50_000;
      const b = bucket('ns/a/flag-two', u) < 50_000;
      if (a) first++;
      if (b) second++;
      if (a && b) both++;
    }
    // Independent halves overlap on a quarter of users.
    const expected = (first / users.length) * (second / users.length) * users.length;
    assert.ok(Math.abs(both - expected) / users.length < 0.005, `overlap ${both}, expected ≈ ${expected}`);
  });
});
