import * as tf from '@tensorflow/tfjs';
import type { LogVars } from '../models/optimise.ts';

/**
 * The networks a model kind may train, by the name of the optimizer that trains each (`extractor`:
 * TTSR's texture extractor).
 */
export const OPTIMIZER_NAMES = ['generator', 'discriminator', 'extractor'] as const;
/** `'generator'`, `'discriminator'` or `'extractor'`. */
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** A seeded generator whose state a checkpoint keeps. */
export interface RngState {
  getState(): number;
  manualSeed(state: number): void;
}

/** A sample grid: images N×H×W×C in [−1, 1], tiled `columns` to a row. */
export interface SampleGrid {
  images: tf.Tensor4D;
  columns: number;
}

/**
 * What the trainer drives for one model kind: its networks and optimizers by name, the buffers
 * its losses keep, the seeded generators it draws from, a step on given dataset indices, the
 * sample grid and the quality metrics. `Trainer` does the rest (sampling, state, checkpoints).
 */
export interface TrainTask {
  /** The trained networks, by optimizer name (no discriminator in a model without one). */
  readonly nets: Partial<Record<OptimizerName, tf.LayersModel>>;
  /** The optimizers, by the network they train. */
  readonly optimizers: Partial<Record<OptimizerName, tf.Optimizer>>;
  /** The training images the sampler draws indices from. */
  readonly trainSize: number;
  /** The model's iteration counter (0-based, of the next step). */
  iteration: number;
  /** The seeded generators the task draws from, besides genloss's default one, by name. */
  readonly rngs: Record<string, RngState>;
  /** The losses' running buffers (path-length mean…), in a fixed order. */
  buffers(): tf.Variable[];
  /** One atomic training step on the training images at `indices`. */
  trainStep(indices: readonly number[]): Promise<LogVars>;
  /** The grid to render at each `sample_interval`. */
  samples(): SampleGrid;
  /** Quality metrics keyed `metric/<name>`. */
  evaluate(): Promise<Record<string, number>>;
  dispose(): void;
}

/** Images in [−1, 1] as the metrics take them: [0, 255], clipped (call inside `tf.tidy`). */
export function to255(images: tf.Tensor4D): tf.Tensor4D {
  return tf.clipByValue(tf.mul(tf.add(images, 1), 127.5), 0, 255) as tf.Tensor4D;
}
