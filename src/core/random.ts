import * as tf from '@tensorflow/tfjs';
import { describeValue } from './describe.ts';
import { ConfigError } from './errors.ts';

/** The seed the default generator starts from, so that unseeded runs repeat. */
export const DEFAULT_SEED = 0x5eed;

/**
 * A seedable source of TF.js random draws. TF.js seeds each `randomUniform`/`randomNormal` call
 * separately, so this is a counter that hands out a fresh, reproducible seed per draw
 * (splitmix32 of the running state). Two generators built with the same seed give the same draws
 * in the same order. genloss uses {@link defaultGenerator} unless a draw is passed in.
 */
export class SeedGenerator {
  private state: number;

  constructor(seed: number = DEFAULT_SEED) {
    this.state = checkSeed(seed);
  }

  /**
   * The current state: `manualSeed(getState())` later resumes the sequence exactly from here
   * (for checkpoints).
   */
  getState(): number {
    return this.state;
  }

  /** Restarts the sequence from `seed` (an integer), as `torch.manual_seed`. */
  manualSeed(seed: number): void {
    this.state = checkSeed(seed);
  }

  /**
   * The next seed for a TF.js random op: an integer in [1, 2³²). Never 0, which TF.js reads as
   * "seed from `Math.random()`".
   */
  nextSeed(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z === 0 ? 1 : z;
  }

  /** Uniform float32 draws in [lo, hi) (`torch.rand` for the default range). */
  uniform(shape: number[], lo = 0, hi = 1): tf.Tensor {
    return tf.randomUniform(shape, lo, hi, 'float32', this.nextSeed());
  }

  /** Standard normal float32 draws (`torch.randn`). */
  normal(shape: number[]): tf.Tensor {
    return tf.randomNormal(shape, 0, 1, 'float32', this.nextSeed());
  }
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new ConfigError(`SeedGenerator: 'seed' must be an integer, got ${describeValue(seed)}`);
  }
  return seed >>> 0;
}

/**
 * The generator genloss draws from when a random draw (gradient-penalty `alpha`, path-length
 * `noise`) is not passed in. Reseed it with `defaultGenerator.manualSeed(seed)`.
 */
export const defaultGenerator = new SeedGenerator();

/** Reseeds {@link defaultGenerator}. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}
