import * as tf from '@tensorflow/tfjs';
import { sobel } from '../../core/sobel.ts';
import { runFused, toWeightShape } from './runtime.ts';
import { SOBEL_L1_GRAD, SOBEL_L1_SUM } from './sobel-loss.ts';

// The sum's gradient w.r.t. pred is the Grad kernel (w.r.t. target, its negative). The Grad
// kernel is piecewise linear in d with a constant sign pattern, so its own gradient w.r.t. pred
// and target is 0, w.r.t. dy the Grad kernel at dy = 1, and w.r.t. the weight an op chain on the
// Sobel op.

/** `[kx∗x, ky∗x]` of an NHWC tensor, as taped ops. */
const responses = (x: tf.Tensor) => sobel(x as tf.Tensor4D);

const sumGradient: tf.GradConfig = {
  kernelName: SOBEL_L1_SUM,
  saveAllInputs: true,
  gradFunc: (dy, saved) => {
    const [pred, target, weight] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const grad = () => runFused(SOBEL_L1_GRAD, [dy as tf.Tensor, pred, target, weight]);
    return {
      0: grad,
      1: () => tf.neg(grad()),
      2: () => {
        const [gx, gy] = responses(tf.sub(pred, target));
        const e = tf.mul(tf.add(tf.abs(gx), tf.abs(gy)), dy as tf.Tensor);
        return toWeightShape(e, weight as tf.Tensor);
      },
    };
  },
};

const gradGradient: tf.GradConfig = {
  kernelName: SOBEL_L1_GRAD,
  saveAllInputs: true,
  gradFunc: (upstream, saved) => {
    const [dy, pred, target, weight] = saved as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const u = upstream as tf.Tensor;
    return {
      0: () => tf.sum(tf.mul(u, runFused(SOBEL_L1_GRAD, [tf.onesLike(dy), pred, target, weight]))),
      1: () => tf.zerosLike(pred),
      2: () => tf.zerosLike(target),
      3: () => {
        const [gx, gy] = responses(tf.sub(pred, target));
        const [ux, uy] = responses(u);
        const e = tf.add(tf.mul(tf.sign(gx), ux), tf.mul(tf.sign(gy), uy));
        return toWeightShape(tf.mul(e, dy), weight as tf.Tensor);
      },
    };
  },
};

/** The gradients of both Sobel L1 kernels, made of taped kernels and ops (every order). */
export const SOBEL_GRADIENTS: readonly tf.GradConfig[] = [sumGradient, gradGradient];
