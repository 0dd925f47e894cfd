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
  /** inclusive */
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  /** inclusive; 265 random bits reduced modulo the span, so even uint256-wide spans are covered */
  const big = (min: bigint, max: bigint) => {
    let r = 0n;
    for (let i = 0; i < 5; i++) r = (r << 53n) | BigInt(Math.floor(next() * 2 ** 53));
    return min + (r % (max - min + 1n));
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  return { next, int, big, pick };
}
