/** A small seeded PRNG (mulberry32) for reproducible property tests and benchmarks. Not for secrets. */
export function seededRandom(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const big = (min: bigint, max: bigint) => min + (BigInt(Math.floor(next() * 2 ** 52)) * (max - min + 1n)) / 2n ** 52n;
  const pick = <T>(xs: readonly T[]) => xs[int(0, xs.length - 1)];
  return { next, int, big, pick };
}
