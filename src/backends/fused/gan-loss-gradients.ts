import * as tf from '@tensorflow/tfjs';
import { GAN_LOSS_GRAD, GAN_LOSS_SUM, type GanLossAttrs } from './gan-loss.ts';
import type { GanElementLoss } from './gan-loss-loops.ts';
import { runFused } from './runtime.ts';

// The sum's gradient is the taped gradient kernel; the gradient kernel's own gradients (second
// order, which a penalty through a GAN loss needs) are op chains, so every order holds.

/** `f'(x)` as ops (see gan-loss-loops.ts). */
function derivativeOps(loss: GanElementLoss, x: tf.Tensor, c: number): tf.Tensor {
  switch (loss) {
    case 'bce':
      return tf.sub(tf.sigmoid(x), c);
    case 'square':
      return tf.mul(tf.sub(x, c), 2);
    case 'hinge':
      return tf.mul(tf.step(tf.add(tf.mul(x, c), 1)), c);
    case 'linear':
      return tf.fill(x.shape, c);
  }
}

/** `f''(x)` as ops: σ(x)(1 − σ(x)), 2, or 0 for the piecewise-linear losses. */
function secondDerivativeOps(loss: GanElementLoss, x: tf.Tensor): tf.Tensor {
  if (loss === 'bce') {
    const s = tf.sigmoid(x);
    return tf.mul(s, tf.sub(1, s));
  }
  return loss === 'square' ? tf.fill(x.shape, 2) : tf.zerosLike(x);
}

const sumGradient: tf.GradConfig = {
  kernelName: GAN_LOSS_SUM,
  saveAllInputs: true,
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return { 0: () => runFused(GAN_LOSS_GRAD, [dy as tf.Tensor, x], attrs) };
  },
};

const gradGradient: tf.GradConfig = {
  kernelName: GAN_LOSS_GRAD,
  saveAllInputs: true,
  gradFunc: (upstream, saved, attrs) => {
    const [dy, x] = saved;
    const { loss, c, scale } = attrs as unknown as GanLossAttrs;
    const u = upstream as tf.Tensor;
    return {
      0: () => tf.mul(tf.sum(tf.mul(u, derivativeOps(loss, x, c))), scale),
      1: () => tf.mul(tf.mul(u, tf.mul(dy, scale)), secondDerivativeOps(loss, x)),
    };
  },
};

/** The gradients of both GAN-loss kernels, made of taped kernels and ops (every order). */
export const GAN_LOSS_GRADIENTS: readonly tf.GradConfig[] = [sumGradient, gradGradient];
