// Seeded random inputs for the device checks (graph-check.mjs, ddp-check.mjs): the same numbers on any
// machine, so two runs of a check step on the same batches.

/** A generator of numbers in [0, 1) from `seed` (a linear congruential one: reproducible, not random). */
export function random(seed) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** `n` images of 3 × side × side in [-2, 2) with labels 0 or 1, from `seed`. */
export function randomBatch(n, seed, side) {
  const next = random(seed);
  return {
    images: Float32Array.from({ length: n * 3 * side * side }, () => next() * 4 - 2),
    shape: [n, 3, side, side],
    labels: Int32Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1)),
  };
}
