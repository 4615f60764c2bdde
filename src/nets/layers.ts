import * as tf from '@tensorflow/tfjs';

/**
 * Layers of the feature networks, written with plain TF.js ops whose gradients are themselves
 * differentiable, with PyTorch's semantics.
 */

/**
 * A convolution as PyTorch's `Conv2d(padding=p, stride=s)`: symmetric zero padding of `p`, then a
 * 'valid' convolution (TF.js 'same' pads asymmetrically for even strides).
 *
 * @param x N×H×W×I. @param w HWIO. @param b [O] or null.
 */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor,
  b: tf.Tensor | null,
  stride = 1,
  padding = 0,
): tf.Tensor4D {
  return tf.tidy(() => {
    const p =
      padding > 0
        ? tf.pad(x, [
            [0, 0],
            [padding, padding],
            [padding, padding],
            [0, 0],
          ])
        : x;
    const y = tf.conv2d(p, w as tf.Tensor4D, stride, 'valid');
    return (b ? tf.add(y, b) : y) as tf.Tensor4D;
  });
}

/** `x · w + b` with w as [in, out] (see `WeightReader.linear`); x is […, in]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const shape = x.shape as number[];
    const flat = tf.reshape(x, [-1, shape[shape.length - 1]]);
    const y = tf.matMul(flat as tf.Tensor2D, w as tf.Tensor2D);
    return tf.reshape(b ? tf.add(y, b) : y, [...shape.slice(0, -1), w.shape[1] as number]);
  });
}

/** Batch norm in eval mode: `(x − mean) / sqrt(var + eps) · γ + β`, folded to `x · a + c`. */
export interface FoldedNorm {
  scale: tf.Tensor;
  shift: tf.Tensor;
}

/** `x · scale + shift` over the last axis. */
export function affine(x: tf.Tensor, n: FoldedNorm): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(x, n.scale), n.shift));
}

/** PReLU with per-channel slopes a over the last axis: `max(x, 0) + a · min(x, 0)`. */
export function prelu(x: tf.Tensor, a: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.relu(x), tf.mul(a, tf.neg(tf.relu(tf.neg(x))))));
}

/** Layer norm over the last axis (PyTorch `LayerNorm`, biased variance). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true);
    return tf.add(tf.mul(tf.div(centered, tf.sqrt(tf.add(variance, eps))), gamma), beta);
  });
}

/** `x / sqrt(‖x‖₂² + eps²)` over the last axis: `x / ‖x‖₂` for any non-zero x. */
export function l2Normalize(x: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), eps * eps))));
}
