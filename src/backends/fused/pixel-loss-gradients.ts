import * as tf from '@tensorflow/tfjs';
import { PIXEL_LOSS_GRAD, PIXEL_LOSS_SUM, type PixelLossAttrs } from './pixel-loss.ts';
import type { FusedLoss } from './pixel-loss-loops.ts';
import { runFused, toWeightShape } from './runtime.ts';

// Both kernels get gradients made of taped kernels, so every order of differentiation holds.
// f' is odd for all three losses, so the target gradient is the pred gradient with the two
// swapped. Gradients that are rarely needed (w.r.t. weight, and the second order) use op chains.

/** `f(d)` as ops. */
function lossOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.abs(d);
  if (loss === 'mse') return tf.square(d);
  return tf.sqrt(tf.add(tf.square(d), eps));
}

/** `f'(d)` as ops. */
function derivativeOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.sign(d);
  if (loss === 'mse') return tf.mul(d, 2);
  return tf.div(d, tf.sqrt(tf.add(tf.square(d), eps)));
}

/** `f''(d)` as ops (0 for L1, whose derivative is piecewise constant). */
function secondDerivativeOps(loss: FusedLoss, d: tf.Tensor, eps: number): tf.Tensor {
  if (loss === 'l1') return tf.zerosLike(d);
  if (loss === 'mse') return tf.fill(d.shape, 2);
  return tf.div(eps, tf.pow(tf.add(tf.square(d), eps), 1.5));
}

/** `dy` (scalar, or `[N]` per sample) shaped to broadcast against an N×… tensor of `rank`. */
function perSampleScale(dy: tf.Tensor, rank: number): tf.Tensor {
  return dy.rank === 0 ? dy : tf.reshape(dy, [dy.shape[0], ...Array(rank - 1).fill(1)]);
}

/** Sums an element tensor to dy's shape: everything, or everything but the batch axis. */
function toScaleShape(e: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (dy.rank === 0) return tf.sum(e);
  return tf.sum(
    e,
    Array.from({ length: e.rank - 1 }, (_, i) => i + 1),
  );
}

const sumGradient: tf.GradConfig = {
  kernelName: PIXEL_LOSS_SUM,
  saveAllInputs: true,
  gradFunc: (dy, saved, attrs) => {
    const [pred, target, weight] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const a = attrs as unknown as PixelLossAttrs;
    const scale = dy as tf.Tensor;
    return {
      0: () => runFused(PIXEL_LOSS_GRAD, [scale, pred, target, weight], a),
      1: () => runFused(PIXEL_LOSS_GRAD, [scale, target, pred, weight], a),
      2: () => {
        const e = lossOps(a.loss, tf.sub(pred, target), a.eps);
        return toWeightShape(tf.mul(e, perSampleScale(scale, e.rank)), weight as tf.Tensor);
      },
    };
  },
};

const gradGradient: tf.GradConfig = {
  kernelName: PIXEL_LOSS_GRAD,
  saveAllInputs: true,
  gradFunc: (upstream, saved, attrs) => {
    const [dy, pred, target, weight] = saved as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const a = attrs as unknown as PixelLossAttrs;
    const u = upstream as tf.Tensor;
    const d = () => tf.sub(pred, target);
    const scaled = () => {
      const s = tf.mul(u, perSampleScale(dy, u.rank));
      return weight ? tf.mul(s, weight) : s;
    };
    const wrtPred = () => tf.mul(scaled(), secondDerivativeOps(a.loss, d(), a.eps));
    return {
      0: () => {
        const e = tf.mul(u, derivativeOps(a.loss, d(), a.eps));
        return toScaleShape(weight ? tf.mul(e, weight) : e, dy);
      },
      1: wrtPred,
      2: () => tf.neg(wrtPred()),
      3: () => {
        const e = tf.mul(tf.mul(u, perSampleScale(dy, u.rank)), derivativeOps(a.loss, d(), a.eps));
        return toWeightShape(e, weight as tf.Tensor);
      },
    };
  },
};

/** The gradients of both pixel-loss kernels, made of taped kernels and ops (every order). */
export const PIXEL_LOSS_GRADIENTS: readonly tf.GradConfig[] = [sumGradient, gradGradient];
