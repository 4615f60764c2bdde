import * as tf from '@tensorflow/tfjs';

/** A saved copy of training state that can be put back. */
export interface Snapshot {
  /** Puts every variable and optimizer state back as it was when the snapshot was taken. */
  restore(): Promise<void>;
  /** Frees the saved copies. */
  dispose(): void;
}

/**
 * Saves copies of `variables` (weights and buffers) and of each optimizer's state (its
 * `getWeights()`: iteration count and moment accumulators), so that a failed step can be undone.
 */
export async function takeSnapshot(
  variables: readonly tf.Variable[],
  optimizers: readonly tf.Optimizer[],
): Promise<Snapshot> {
  const values = variables.map((v) => tf.clone(v));
  const states = await Promise.all(
    optimizers.map(async (opt) => {
      // getWeights() returns a fresh iteration-count tensor first, then the live accumulators.
      const [iterations, ...accumulators] = await opt.getWeights();
      const copies = accumulators.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
      return [iterations, ...copies];
    }),
  );
  return {
    async restore() {
      variables.forEach((v, i) => {
        v.assign(values[i]);
      });
      for (const [i, opt] of optimizers.entries()) {
        const replaced = await opt.getWeights();
        // setWeights wraps each given tensor in a new variable sharing its data; the copies
        // handed over are freed after, the variables keep the data.
        const copies = states[i].map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }));
        await opt.setWeights(copies);
        tf.dispose(copies.map((w) => w.tensor));
        tf.dispose(replaced.map((w) => w.tensor));
      }
    },
    dispose() {
      tf.dispose(values);
      tf.dispose(states.flatMap((s) => s.map((w) => w.tensor)));
    },
  };
}
