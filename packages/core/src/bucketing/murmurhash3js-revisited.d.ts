// The independent MurmurHash3 the tests check ours against (a dev dependency with no types of its own).
declare module 'murmurhash3js-revisited' {
  const murmur: { x86: { hash32(bytes: Uint8Array, seed?: number): number } };
  export default murmur;
}
