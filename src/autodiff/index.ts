import * as tf from '@tensorflow/tfjs';

let registered = false;

/**
 * Registers genloss's gradient corrections with TF.js's global gradient registry. Idempotent;
 * called once when genloss is imported.
 *
 * - `Abs`: TF.js uses `step(x, -1)`, which is −1 at x = 0; PyTorch (and MMagic's L1 losses) use
 *   `sign(x)`, which is 0 there. Ours is `dy · sign(x)`, itself differentiable.
 */
export function registerGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: tf.Abs,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => tf.mul(dy as tf.Tensor, tf.sign(x)) };
    },
  });
}
