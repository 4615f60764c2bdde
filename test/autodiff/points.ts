import * as tf from '@tensorflow/tfjs';
import { Mulberry32 } from '../../src/core/prng.ts';

/** A seeded uniform generator on [0, 1) (genloss's Mulberry32). */
export function seeded(seed: number): () => number {
  const rng = new Mulberry32(seed);
  return () => rng.next();
}

/**
 * Smooth test points for float32 finite differences: uniform on `[lo, hi]`, pushed at least
 * `gap` away from every kink (0 for relu-likes, ±c for clips), so that a step of 1e-2 never
 * crosses one.
 */
export function points(
  shape: number[],
  seed: number,
  {
    lo = -1,
    hi = 1,
    kinks = [0],
    gap = 0.1,
  }: { lo?: number; hi?: number; kinks?: number[]; gap?: number } = {},
): tf.Tensor {
  const random = seeded(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let k = 0; k < size; k++) {
    let v = lo + (hi - lo) * random();
    for (const kink of kinks) {
      if (Math.abs(v - kink) < gap) v = kink + (v < kink ? -gap : gap);
    }
    values[k] = v;
  }
  return tf.tensor(values, shape, 'float32');
}

/**
 * Values with no ties and gaps of at least `spacing` (a shuffled grid), so max-pooling picks
 * a unique, stable maximum under ±1e-2 steps.
 */
export function distinct(shape: number[], seed: number, spacing = 0.05): tf.Tensor {
  const random = seeded(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const grid = Array.from({ length: size }, (_, k) => (k - size / 2) * spacing);
  for (let k = size - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [grid[k], grid[j]] = [grid[j], grid[k]];
  }
  return tf.tensor(grid, shape, 'float32');
}
