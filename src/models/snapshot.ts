import * as tf from '@tensorflow/tfjs';
import {
  disposeOptimizerState,
  readOptimizerState,
  writeOptimizerState,
} from './optimizer-state.ts';

/** A saved copy of training state that can be put back. */
export interface Snapshot {
  /** Puts every variable and optimizer state back as it was when the snapshot was taken. */
  restore(): Promise<void>;
  /** Frees the saved copies. */
  dispose(): void;
}

/**
 * Saves copies of `variables` (weights and buffers) and of each optimizer's state (iteration count, moment accumulators and Adam's β powers, see `readOptimizerState`), so that a failed step can be undone.
 */
export async function takeSnapshot(
  variables: readonly tf.Variable[],
  optimizers: readonly tf.Optimizer[],
): Promise<Snapshot> {
  const values = variables.map((v) => tf.clone(v));
  const states = await Promise.all(optimizers.map(readOptimizerState));
  return {
    async restore() {
      variables.forEach((v, i) => {
        v.assign(values[i]);
      });
      for (const [i, opt] of optimizers.entries()) await writeOptimizerState(opt, states[i]);
    },
    dispose() {
      tf.dispose(values);
      states.forEach(disposeOptimizerState);
    },
  };
}
