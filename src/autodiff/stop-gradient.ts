import * as tf from '@tensorflow/tfjs';

const stop = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * PyTorch's `.detach()`: the values of `x`, with its gradient cut — the gradient into `x` is zero
 * at every order (the gradient function returns zeros, whose own gradient is zero), so nested
 * `tf.grad`/`tf.variableGrads` see a constant too. Used for targets MMagic detaches (the ground
 * truth's features, the blurred smgan mask, the gradient-penalty interpolates, DeblurGANv2's fake
 * for the discriminator, the path regulariser's running mean).
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
